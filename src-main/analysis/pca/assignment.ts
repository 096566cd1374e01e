/**
 * Matching the components of one basis to those of another: a minimum-cost perfect matching of
 * a square cost matrix (the Hungarian method, O(n³)), and the greedy alternative.
 */

/**
 * Minimum-cost assignment of n rows to n columns; `cost` is row-major n×n. Returns
 * `column[row]`. Shortest augmenting paths with row/column potentials (Kuhn–Munkres as
 * formulated by Jonker–Volgenant); exact for any finite costs.
 */
export function minCostAssignment(cost: Float64Array, n: number): Int32Array {
  if (cost.length !== n * n) throw new Error(`minCostAssignment: ${cost.length} costs do not form a ${n}×${n} matrix`);
  // 1-based with a virtual column 0, as in the classical formulation.
  const rowPotential = new Float64Array(n + 1);
  const colPotential = new Float64Array(n + 1);
  const rowOfCol = new Int32Array(n + 1); // 0: unassigned
  const previousCol = new Int32Array(n + 1);
  const minSlack = new Float64Array(n + 1);
  const visited = new Uint8Array(n + 1);
  for (let row = 1; row <= n; row++) {
    rowOfCol[0] = row;
    let col0 = 0;
    minSlack.fill(Infinity);
    visited.fill(0);
    do {
      visited[col0] = 1;
      const r = rowOfCol[col0];
      let delta = Infinity;
      let next = 0;
      for (let c = 1; c <= n; c++) {
        if (visited[c]) continue;
        const slack = cost[(r - 1) * n + (c - 1)] - rowPotential[r] - colPotential[c];
        if (slack < minSlack[c]) {
          minSlack[c] = slack;
          previousCol[c] = col0;
        }
        if (minSlack[c] < delta) {
          delta = minSlack[c];
          next = c;
        }
      }
      for (let c = 0; c <= n; c++) {
        if (visited[c]) {
          rowPotential[rowOfCol[c]] += delta;
          colPotential[c] -= delta;
        } else {
          minSlack[c] -= delta;
        }
      }
      col0 = next;
    } while (rowOfCol[col0] !== 0);
    // Augment along the path back to the virtual column.
    do {
      const prev = previousCol[col0];
      rowOfCol[col0] = rowOfCol[prev];
      col0 = prev;
    } while (col0 !== 0);
  }
  const columnOfRow = new Int32Array(n);
  for (let c = 1; c <= n; c++) columnOfRow[rowOfCol[c] - 1] = c - 1;
  return columnOfRow;
}

/**
 * Greedy assignment: repeatedly take the cheapest remaining (row, column) pair (the first in
 * row-major order on ties). Not optimal in general; returns `column[row]`.
 */
export function greedyAssignment(cost: Float64Array, n: number): Int32Array {
  if (cost.length !== n * n) throw new Error(`greedyAssignment: ${cost.length} costs do not form a ${n}×${n} matrix`);
  const columnOfRow = new Int32Array(n).fill(-1);
  const columnTaken = new Uint8Array(n);
  for (let step = 0; step < n; step++) {
    let best = Infinity;
    let bestRow = -1;
    let bestCol = -1;
    for (let r = 0; r < n; r++) {
      if (columnOfRow[r] >= 0) continue;
      for (let c = 0; c < n; c++) {
        if (columnTaken[c]) continue;
        const v = cost[r * n + c];
        if (v < best || bestRow < 0) {
          best = v;
          bestRow = r;
          bestCol = c;
        }
      }
    }
    columnOfRow[bestRow] = bestCol;
    columnTaken[bestCol] = 1;
  }
  return columnOfRow;
}
