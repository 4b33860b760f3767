export { buildProgram, run, reportError, setExitCode } from './program';
