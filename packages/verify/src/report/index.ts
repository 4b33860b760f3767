export { escapeHtml, writeAttackReport, writeCraReport, MAX_FIGURE_ROWS } from './report';
export type { AttackReportInput, CraReportInput } from './report';
export { renderAttackFigure, renderCraCurve } from './figures';
export type { AttackFigureRow, AttackFigureOptions, CraPoint } from './figures';
export { Raster, diverging } from './raster';
