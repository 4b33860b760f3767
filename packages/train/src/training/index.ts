export * from './config';
export * from './hooks';
export { STAGING_DIR, COMPLETE_MARKER, commitFiles, recoverCommit, committedPath } from './commit';
export type { FileSet } from './commit';
export * from './file-handler';
export * from './checkpoint';
export * from './progress';
export * from './train';
