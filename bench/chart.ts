import { readFileSync, writeFileSync } from 'node:fs';
import { ratio, type Row } from './report.js';

/**
 * Draws the Berth ÷ distribution ratio of every workload of a bench result as a horizontal
 * bar chart (SVG, logarithmic axis: ratios run from below 1 to several hundred).
 * Usage: node dist-bench/chart.js bench/results/<run>.json docs/images/performance.svg
 */
const [input, output] = process.argv.slice(2);
if (!input || !output) {
  process.stderr.write('usage: chart.js <result.json> <out.svg>\n');
  process.exit(2);
}
const result = JSON.parse(readFileSync(input, 'utf8')) as { rows: Row[]; machine: string; systems: Record<string, { label: string }>; started: string };
const rows = result.rows.map((row) => ({ name: row.workload, value: ratio(row) }));

const labelWidth = 400;
const plotWidth = 460;
const barHeight = 22;
const top = 56;
const height = top + rows.length * barHeight + 48;
const width = labelWidth + plotWidth + 90;
const minLog = Math.log10(0.25);
const maxLog = Math.log10(Math.max(1000, ...rows.map((r) => r.value)));
const x = (value: number) => labelWidth + ((Math.log10(Math.max(value, 0.25)) - minLog) / (maxLog - minLog)) * plotWidth;
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

const parts: string[] = [
  `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, Arial, sans-serif" font-size="12">`,
  `<rect width="100%" height="100%" fill="#ffffff"/>`,
  `<text x="12" y="22" font-size="15" font-weight="bold">Berth ÷ CNCF distribution, same machine, same run (higher is better for Berth)</text>`,
  `<text x="12" y="40" fill="#555">${esc(`${result.systems.berth?.label ?? ''} vs ${result.systems.distribution?.label ?? ''}; ${result.started.slice(0, 10)}`)}</text>`,
];
for (const tick of [0.25, 0.5, 1, 2, 5, 10, 100, 1000].filter((t) => Math.log10(t) <= maxLog)) {
  const tx = x(tick);
  parts.push(`<line x1="${tx}" y1="${top - 4}" x2="${tx}" y2="${top + rows.length * barHeight}" stroke="${tick === 1 ? '#333' : '#ddd'}" stroke-width="${tick === 1 ? 1.5 : 1}"/>`);
  parts.push(`<text x="${tx}" y="${top + rows.length * barHeight + 16}" text-anchor="middle" fill="#555">${tick}×</text>`);
}
rows.forEach((row, i) => {
  const y = top + i * barHeight;
  const x0 = x(1);
  const x1 = x(row.value);
  const colour = row.value >= 1 ? '#2f7d4f' : '#b5462f';
  parts.push(`<text x="${labelWidth - 8}" y="${y + 15}" text-anchor="end">${esc(row.name)}</text>`);
  parts.push(`<rect x="${Math.min(x0, x1)}" y="${y + 4}" width="${Math.max(1, Math.abs(x1 - x0))}" height="${barHeight - 8}" fill="${colour}"/>`);
  parts.push(`<text x="${Math.max(x0, x1) + 6}" y="${y + 15}" fill="#222">${row.value >= 100 ? row.value.toFixed(0) : row.value.toFixed(2)}×</text>`);
});
parts.push(`<text x="12" y="${height - 10}" fill="#555">${esc(result.machine)}; bars start at 1× (parity); logarithmic scale</text>`);
parts.push('</svg>');
writeFileSync(output, `${parts.join('\n')}\n`);
