// Drawing shared by the faceset grid, its detail view and the manual fix.

export const faceUrl = (side, kind, name, bin, key) =>
  `/api/faceset/${side}/${kind}/${encodeURIComponent(name)}?bin=${bin}&v=${encodeURIComponent(key)}`;

// Landmark groups of the iBUG-68 scheme, drawn as polylines: [from, to, closed].
export const LANDMARK_LINES = [[0, 16, false], [17, 21, false], [22, 26, false], [27, 30, false], [31, 35, false],
                               [36, 41, true], [42, 47, true], [48, 59, true], [60, 67, true]];

// Draw landmarks and mask outline of `overlay` ({size, landmarks, mask}) on canvas `ctx` of side `px`.
export function drawOverlay(ctx, overlay, px) {
  const s = px / overlay.size;
  ctx.save();
  ctx.lineWidth = Math.max(1, px / 160);
  ctx.strokeStyle = "rgba(92, 201, 138, 0.95)";
  ctx.fillStyle = "rgba(92, 201, 138, 0.12)";
  for (const polygon of overlay.mask) {
    ctx.beginPath();
    polygon.forEach(([x, y], i) => (i ? ctx.lineTo(x * s, y * s) : ctx.moveTo(x * s, y * s)));
    ctx.closePath(); ctx.fill(); ctx.stroke();
  }
  ctx.strokeStyle = "rgba(79, 156, 249, 0.9)";
  for (const [from, to, closed] of LANDMARK_LINES) {
    ctx.beginPath();
    for (let i = from; i <= to; i++) {
      const [x, y] = overlay.landmarks[i];
      i === from ? ctx.moveTo(x * s, y * s) : ctx.lineTo(x * s, y * s);
    }
    if (closed) ctx.closePath();
    ctx.stroke();
  }
  ctx.fillStyle = "#ffd84d";
  const r = Math.max(1, px / 120);
  for (const [x, y] of overlay.landmarks) { ctx.beginPath(); ctx.arc(x * s, y * s, r, 0, 2 * Math.PI); ctx.fill(); }
  ctx.restore();
}
