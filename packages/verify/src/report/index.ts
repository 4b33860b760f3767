export { escapeHtml, writeAttackReport, writeCraReport, MAX_FIGURE_ROWS } from './report';
export type { AttackReportInput, CraReportInput } from './report';
export { renderCertificateScatter, renderCraChart, scatterSummary } from './charts';
export type { CraPoint, ScatterPoint } from './charts';
export { niceTicks, niceDomain, niceStep } from './ticks';
export { diverging } from './images';
