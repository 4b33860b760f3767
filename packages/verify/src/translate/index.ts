export { translateOnnx, assertTranslationMatches, TRANSLATION_TOLERANCE } from './translate';
export type { TranslatedModel, SampleInputs } from './translate';
export { TRANSLATABLE_OPS } from './ops';
