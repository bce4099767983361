// Figures written on a uPlot chart (over a bar, above a peak), so they read without hovering: white, bold,
// centred above the point, never above the plot's top.

export function writeLabels(u, each) {
  const { ctx } = u;
  ctx.save();
  ctx.font = `bold ${Math.round(13 * devicePixelRatio)}px system-ui, sans-serif`;
  ctx.fillStyle = "#f4f6f8";
  ctx.textAlign = "center";
  ctx.textBaseline = "bottom";
  each((text, x, y) => ctx.fillText(text, x, Math.max(y, u.bbox.top + 14 * devicePixelRatio)));
  ctx.restore();
}
