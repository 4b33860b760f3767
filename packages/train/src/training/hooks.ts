import { TrainConfig } from './config';
import { EpochRecord } from './checkpoint';

/** What `train()` reports once the run is set up. */
export interface TrainStartInfo {
  config: TrainConfig;
  backend: { name: string; description: string };
  /** First epoch this session runs (1 for a new run). */
  firstEpoch: number;
  trainSize: number;
  valSize: number;
  stepsPerEpoch: number;
  /** Data-parallel worker threads (1: the calling thread). */
  workers: number;
}

/** Running means of the epoch so far, after each step. */
export interface BatchInfo {
  epoch: number;
  /** 1-based step within the epoch. */
  step: number;
  steps: number;
  loss: number;
  acc: number;
  kr: number;
  /** Learning rate this step used (the schedule's, see `TrainConfig.lrSchedule`). */
  lr: number;
  /** Live tensors in each data-parallel worker after this step (absent with 1 worker). */
  workerTensors?: number[];
}

/** Observers of a run; all optional. */
export interface TrainHooks {
  onStart?(info: TrainStartInfo): void;
  onEpochStart?(info: { epoch: number; epochs: number; steps: number }): void;
  onBatchEnd?(info: BatchInfo): void;
  /** After the epoch's checkpoint is written. */
  onEpochEnd?(record: EpochRecord, info: { epochs: number }): void;
  /** Always called last, also after an error or an interruption. */
  onEnd?(): void;
  /** One-line messages (backend chosen, checkpoint recovered, resuming). */
  logger?(message: string): void;
  /** Checked between steps: when set, the unfinished epoch is dropped and `train()` returns `interrupted: true`. */
  signal?: { readonly aborted: boolean };
}
