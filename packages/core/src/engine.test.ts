import { EngineName, EngineUnavailableError, InvalidArgumentError, OrtModule, loadEngine, requireEngine } from './index';

/** A stand-in onnxruntime module (the loader only checks its shape). */
function fakeOrt(tag: string): OrtModule & { tag: string } {
  return {
    tag,
    Tensor: class {} as never,
    InferenceSession: {
      create: async () => {
        throw new Error('not a real engine');
      },
    },
  };
}

const NODE = fakeOrt('node');
const WEB = fakeOrt('web');

/** A `requireEngine` hook where the engines in `missing` are not installed; records what was asked. */
function installed(missing: readonly EngineName[]): { load: (name: EngineName) => unknown; asked: EngineName[] } {
  const asked: EngineName[] = [];
  return {
    asked,
    load: (name) => {
      asked.push(name);
      if (missing.includes(name)) throw new Error(`Cannot find module 'onnxruntime-${name}'\nRequire stack:\n- engine.ts`);
      return name === 'node' ? NODE : WEB;
    },
  };
}

describe('requireEngine', () => {
  it("'auto' takes onnxruntime-node when it loads", () => {
    const { load, asked } = installed([]);
    expect(requireEngine('auto', { requireEngine: load, node: true, env: {} })).toEqual({ name: 'node', ort: NODE });
    expect(asked).toEqual(['node']);
  });

  it("'auto' falls back to onnxruntime-web when onnxruntime-node cannot be loaded", () => {
    const { load, asked } = installed(['node']);
    expect(requireEngine('auto', { requireEngine: load, node: true, env: {} })).toEqual({ name: 'web', ort: WEB });
    expect(asked).toEqual(['node', 'web']);
  });

  it("'auto' in a browser never tries onnxruntime-node", () => {
    const { load, asked } = installed([]);
    expect(requireEngine(undefined, { requireEngine: load, node: false, env: {} }).name).toBe('web');
    expect(asked).toEqual(['web']);
  });

  it('a module without InferenceSession counts as unloadable (e.g. a bundler stub)', () => {
    const load = (name: EngineName): unknown => (name === 'node' ? {} : { default: WEB });
    expect(requireEngine('auto', { requireEngine: load, node: true, env: {} })).toEqual({ name: 'web', ort: WEB });
  });

  it("'node' when onnxruntime-node is absent: one error naming the package, the install command and the offline switch", () => {
    const { load } = installed(['node']);
    const attempt = (): unknown => requireEngine('node', { requireEngine: load, node: true, env: {} });
    expect(attempt).toThrow(EngineUnavailableError);
    expect(attempt).toThrow(
      "'engine' node: onnxruntime-node cannot be loaded (Cannot find module 'onnxruntime-node'); " +
        "install it with 'npm install onnxruntime-node' (offline: 'ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node' " +
        "skips its CUDA download), or use engine 'web'",
    );
    try {
      attempt();
    } catch (err) {
      expect((err as EngineUnavailableError).exitCode).toBe(2);
    }
  });

  it("'web' never falls back to onnxruntime-node", () => {
    const { load, asked } = installed(['web']);
    expect(() => requireEngine('web', { requireEngine: load, node: true, env: {} })).toThrow(
      /^'engine' web: onnxruntime-web cannot be loaded .*; install it with 'npm install onnxruntime-web'$/,
    );
    expect(asked).toEqual(['web']);
  });

  it("'node' in a browser is refused without trying", () => {
    const { load, asked } = installed([]);
    expect(() => requireEngine('node', { requireEngine: load, node: false, env: {} })).toThrow(/only runs in Node; use engine 'web'/);
    expect(asked).toEqual([]);
  });

  it('reads LIP_ENGINE when no engine is passed; a passed one wins', () => {
    const { load } = installed([]);
    expect(requireEngine(undefined, { requireEngine: load, node: true, env: { LIP_ENGINE: 'web' } }).name).toBe('web');
    expect(requireEngine(undefined, { requireEngine: load, node: true, env: { LIP_ENGINE: '' } }).name).toBe('node');
    expect(requireEngine('node', { requireEngine: load, node: true, env: { LIP_ENGINE: 'web' } }).name).toBe('node');
  });

  it('an unavailable engine asked for through LIP_ENGINE names LIP_ENGINE', () => {
    const { load } = installed(['node']);
    expect(() => requireEngine(undefined, { requireEngine: load, node: true, env: { LIP_ENGINE: 'node' } })).toThrow(
      /^'LIP_ENGINE' node: onnxruntime-node cannot be loaded/,
    );
  });

  it.each([
    ['gpu', {}, `'engine' must be 'auto', 'node', 'web' or an onnxruntime module, got "gpu"`],
    [undefined, { LIP_ENGINE: 'Node' }, `'LIP_ENGINE' must be 'auto', 'node', 'web' or an onnxruntime module, got "Node"`],
    [{ Tensor: 1 }, {}, "'engine' must be 'auto', 'node', 'web' or an onnxruntime module (with Tensor and InferenceSession.create)"],
  ])('refuses %j (LIP_ENGINE %j) with an InvalidArgumentError', (choice, env, message) => {
    const attempt = (): unknown => requireEngine(choice as never, { requireEngine: installed([]).load, node: true, env });
    expect(attempt).toThrow(InvalidArgumentError);
    expect(attempt).toThrow(message);
  });

  it('uses a module the caller passes as is', async () => {
    const { load, asked } = installed([]);
    expect(await loadEngine(WEB, { requireEngine: load })).toEqual({ name: 'custom', ort: WEB });
    expect(asked).toEqual([]);
  });

  it('loads the real packages by default (both are installed in this repo, or onnxruntime-web stands in)', () => {
    const { name, ort } = requireEngine('web', { env: {} });
    expect(name).toBe('web');
    expect(typeof ort.InferenceSession.create).toBe('function');
  });
});
