//! Sparse association for the tracker: candidate pairs found through a grid over the boxes (only
//! boxes that overlap can be matched), and the reference's thresholded minimum-cost assignment
//! solved exactly on those pairs by shortest augmenting paths (Dijkstra with potentials), so a
//! frame of n boxes costs about n times the few neighbours each box has, not n^2 memory and n^3
//! time.
#![forbid(unsafe_code)]

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::detect::iou;

/// Most candidate boxes one track is matched against (its best-overlapping ones). Real scenes
/// have a handful; this bounds memory and time when thousands of boxes lie on one spot.
pub const MAX_CANDIDATES: usize = 64;

/// Most boxes looked at for one track. Real scenes have tens near a box; a pile of thousands on
/// one spot would otherwise cost (tracks x boxes) IoUs.
pub const MAX_SCANNED: usize = 1024;

/// For each row (track), the columns (boxes) it may be matched to and the pair's cost.
pub type Pairs = Vec<Vec<(usize, f32)>>;

/// A uniform grid over boxes, for finding the boxes that overlap a box without looking at all.
pub struct Grid<'a> {
    boxes: &'a [[f32; 4]],
    x0: f64,
    y0: f64,
    cell: f64,
    nx: usize,
    ny: usize,
    cells: Vec<Vec<u32>>,
    /// Boxes covering more than `BIG` cells: checked against every query.
    big: Vec<u32>,
    /// Per box, the query number it was last returned for (no duplicates in one query).
    seen: Vec<u32>,
    query: u32,
}

const BIG: usize = 64;

impl<'a> Grid<'a> {
    /// A grid over `boxes` (finite x1, y1, x2, y2); about four cells a box at most.
    pub fn new(boxes: &'a [[f32; 4]]) -> Self {
        let n = boxes.len();
        let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
        let mut sides: Vec<f32> = Vec::with_capacity(n);
        for b in boxes {
            x0 = x0.min(b[0] as f64);
            y0 = y0.min(b[1] as f64);
            x1 = x1.max(b[2] as f64);
            y1 = y1.max(b[3] as f64);
            sides.push((b[2] - b[0]).max(b[3] - b[1]).max(0.0));
        }
        if n == 0 {
            (x0, y0, x1, y1) = (0.0, 0.0, 1.0, 1.0);
        }
        let (w, h) = ((x1 - x0).max(1e-3), (y1 - y0).max(1e-3));
        let median = if n > 0 {
            let m = n / 2;
            *sides.select_nth_unstable_by(m, f32::total_cmp).1 as f64
        } else {
            1.0
        };
        // Cells about a typical box's side, but never more than ~4 cells a box.
        let cell = median.max((w * h / (4.0 * n.max(1) as f64)).sqrt()).max(1e-3);
        let nx = ((w / cell).ceil() as usize).clamp(1, 4096);
        let ny = ((h / cell).ceil() as usize).clamp(1, 4096);
        let cell = (w / nx as f64).max(h / ny as f64);
        let mut g = Self { boxes, x0, y0, cell, nx, ny, cells: vec![Vec::new(); nx * ny], big: Vec::new(), seen: vec![0; n], query: 0 };
        for (i, b) in boxes.iter().enumerate() {
            let (cx0, cy0, cx1, cy1) = g.span(b);
            if (cx1 - cx0 + 1) * (cy1 - cy0 + 1) > BIG {
                g.big.push(i as u32);
                continue;
            }
            for cy in cy0..=cy1 {
                for cx in cx0..=cx1 {
                    g.cells[cy * g.nx + cx].push(i as u32);
                }
            }
        }
        g
    }

    /// The cells a box covers (clamped to the grid; a box with its corners swapped, as a
    /// predicted track can be, covers the same cells as the ordered one).
    fn span(&self, b: &[f32; 4]) -> (usize, usize, usize, usize) {
        let c = |v: f32, o: f64, n: usize| (((v as f64 - o) / self.cell).floor().max(0.0) as usize).min(n - 1);
        let (x0, x1) = (c(b[0], self.x0, self.nx), c(b[2], self.x0, self.nx));
        let (y0, y1) = (c(b[1], self.y0, self.ny), c(b[3], self.y0, self.ny));
        (x0.min(x1), y0.min(y1), x0.max(x1), y0.max(y1))
    }

    /// Calls `f` once for each box that may overlap `b` (a superset of those that do), for at
    /// most [`MAX_SCANNED`] boxes (the big ones, then cell by cell).
    pub fn near(&mut self, b: &[f32; 4], mut f: impl FnMut(usize)) {
        let mut left = MAX_SCANNED;
        self.query = self.query.wrapping_add(1);
        if self.query == 0 {
            self.seen.iter_mut().for_each(|s| *s = 0);
            self.query = 1;
        }
        let q = self.query;
        for &i in self.big.iter().take(left) {
            f(i as usize);
        }
        left -= self.big.len().min(left);
        if b[2] < self.x0 as f32 || b[3] < self.y0 as f32 {
            return;
        }
        let (cx0, cy0, cx1, cy1) = self.span(b);
        // A query box far larger than the grid looks at every box once.
        for cy in cy0..=cy1 {
            for cx in cx0..=cx1 {
                for &i in &self.cells[cy * self.nx + cx] {
                    if self.seen[i as usize] != q {
                        if left == 0 {
                            return;
                        }
                        left -= 1;
                        self.seen[i as usize] = q;
                        f(i as usize);
                    }
                }
            }
        }
    }
}

/// Candidate pairs of `rows` (boxes) against the grid's boxes: pairs that overlap and whose
/// `cost(row, column, iou)` is within `thresh`, at most [`MAX_CANDIDATES`] a row (the cheapest).
pub fn pairs(rows: &[[f32; 4]], grid: &mut Grid, thresh: f32, cost: impl Fn(usize, usize, f32) -> f32) -> Pairs {
    let mut out = Vec::with_capacity(rows.len());
    for (r, rb) in rows.iter().enumerate() {
        let mut cand: Vec<(usize, f32)> = Vec::new();
        let boxes = grid.boxes;
        grid.near(rb, |c| {
            let o = iou(rb, &boxes[c]);
            if o > 0.0 {
                let v = cost(r, c, o);
                if v <= thresh {
                    cand.push((c, v));
                }
            }
        });
        if cand.len() > MAX_CANDIDATES {
            cand.select_nth_unstable_by(MAX_CANDIDATES - 1, |a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
            cand.truncate(MAX_CANDIDATES);
        }
        cand.sort_unstable_by_key(|p| p.0);
        out.push(cand);
    }
    out
}

/// Minimum-cost assignment where no pair may cost more than `thresh`, as `lap.lapjv` with
/// `extend_cost=True, cost_limit=thresh` in the reference (an unmatched row or column costs
/// `thresh / 2`), on the candidate `pairs` of `rows` x `cols`. Exact: rows are added one at a
/// time and each takes the shortest augmenting path (Dijkstra on reduced costs), where every row
/// may also stay unmatched at cost `thresh` (its own dummy column). Returns (matches sorted,
/// unmatched rows, unmatched columns).
pub fn assign(pairs: &[Vec<(usize, f32)>], cols: usize, thresh: f32) -> (Vec<(usize, usize)>, Vec<usize>, Vec<usize>) {
    const SCALE: f64 = 1e6;
    let rows = pairs.len();
    let scaled = |c: f32| (c.clamp(0.0, 2.0) as f64 * SCALE).round() as i64;
    let dummy = scaled(thresh.max(0.0));
    const FREE: usize = usize::MAX;
    // Columns: real 0..cols, then row r's dummy at cols + r.
    let n = cols + rows;
    let mut v = vec![0i64; n];
    let mut col_row = vec![FREE; n];
    let mut row_col = vec![FREE; rows];
    let mut row_cost = vec![0i64; rows];
    let mut dist = vec![i64::MAX; n];
    let mut via = vec![(FREE, 0i64); n];
    let mut done = vec![false; n];
    let mut touched: Vec<usize> = Vec::new();
    let mut settled: Vec<usize> = Vec::new();
    let mut heap = BinaryHeap::new();
    for s in 0..rows {
        if pairs[s].iter().all(|&(_, c)| c > thresh) {
            row_col[s] = cols + s;
            col_row[cols + s] = s;
            row_cost[s] = dummy;
            continue;
        }
        // Dijkstra from row s over columns.
        let mut relax = |j: usize, d: i64, from: usize, c: i64, dist: &mut [i64], heap: &mut BinaryHeap<_>, touched: &mut Vec<usize>| {
            if d < dist[j] {
                if dist[j] == i64::MAX {
                    touched.push(j);
                }
                dist[j] = d;
                via[j] = (from, c);
                heap.push(Reverse((d, j)));
            }
        };
        for &(j, c) in &pairs[s] {
            if c <= thresh {
                let c = scaled(c);
                relax(j, c - v[j], s, c, &mut dist, &mut heap, &mut touched);
            }
        }
        relax(cols + s, dummy - v[cols + s], s, dummy, &mut dist, &mut heap, &mut touched);
        let mut end = FREE;
        let mut delta = 0i64;
        while let Some(Reverse((d, j))) = heap.pop() {
            if done[j] || d > dist[j] {
                continue;
            }
            done[j] = true;
            settled.push(j);
            let i = col_row[j];
            if i == FREE {
                end = j;
                delta = d;
                break;
            }
            let u = row_cost[i] - v[j];
            for &(k, c) in &pairs[i] {
                if c <= thresh && !done[k] {
                    let c = scaled(c);
                    relax(k, d + c - u - v[k], i, c, &mut dist, &mut heap, &mut touched);
                }
            }
            let k = cols + i;
            if !done[k] {
                relax(k, d + dummy - u - v[k], i, dummy, &mut dist, &mut heap, &mut touched);
            }
        }
        debug_assert!(end != FREE, "row {s}'s own dummy column is always free");
        for &j in &settled {
            v[j] -= delta - dist[j];
        }
        // Augment along the path back to s.
        let mut j = end;
        loop {
            let (i, c) = via[j];
            let prev = row_col[i];
            row_col[i] = j;
            col_row[j] = i;
            row_cost[i] = c;
            if i == s {
                break;
            }
            j = prev;
        }
        for &j in &touched {
            dist[j] = i64::MAX;
            done[j] = false;
        }
        touched.clear();
        settled.clear();
        heap.clear();
    }
    let mut matches: Vec<(usize, usize)> = (0..rows).filter(|&r| row_col[r] < cols).map(|r| (r, row_col[r])).collect();
    matches.sort_unstable();
    let unmatched_rows = (0..rows).filter(|&r| row_col[r] >= cols).collect();
    let unmatched_cols = (0..cols).filter(|&c| col_row[c] == FREE).collect();
    (matches, unmatched_rows, unmatched_cols)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pathfinding::matrix::Matrix;

    /// The reference's formulation on a dense matrix (extended with dummies at thresh / 2),
    /// solved by Kuhn-Munkres: the oracle.
    fn dense_extended(cost: &[Vec<f32>], thresh: f32) -> f64 {
        let (nr, nc) = (cost.len(), cost.first().map_or(0, |r| r.len()));
        let n = nr + nc;
        if n == 0 {
            return 0.0;
        }
        let s = |c: f64| (c * 1e6).round() as i64;
        let mut m = Matrix::new(n, n, s(thresh as f64 / 2.0));
        for r in nr..n {
            for c in nc..n {
                m[(r, c)] = 0;
            }
        }
        for (i, row) in cost.iter().enumerate() {
            for (j, &c) in row.iter().enumerate() {
                m[(i, j)] = s(c as f64);
            }
        }
        pathfinding::kuhn_munkres::kuhn_munkres_min(&m).0 as f64 / 1e6
    }

    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> f32 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (self.0 >> 40) as f32 / (1u64 << 24) as f32
        }
    }

    #[test]
    fn assignment_respects_the_threshold() {
        let p = vec![vec![(0, 0.1), (1, 0.9)], vec![(0, 0.2), (1, 0.95)]];
        let (m, ur, uc) = assign(&p, 2, 0.8);
        assert_eq!(m, vec![(0, 0)]);
        assert_eq!(ur, vec![1]);
        assert_eq!(uc, vec![1]);
        let (m, _, _) = assign(&p, 2, 1.0);
        assert_eq!(m, vec![(0, 0), (1, 1)], "global optimum 0.1 + 0.95 < 0.9 + 0.2");
        let (m, ur, uc) = assign(&[], 3, 0.8);
        assert!(m.is_empty() && ur.is_empty() && uc == vec![0, 1, 2]);
    }

    /// The sparse solver's total equals the dense extended problem's optimum (Kuhn-Munkres),
    /// on many random problems with mostly impossible pairs.
    #[test]
    fn equals_the_dense_extended_optimum() {
        let mut rnd = Lcg(7);
        for round in 0..400 {
            let (rows, cols) = (1 + (rnd.next() * 12.0) as usize, 1 + (rnd.next() * 12.0) as usize);
            let density = if round % 2 == 0 { 0.3 } else { 0.9 };
            let cost: Vec<Vec<f32>> =
                (0..rows).map(|_| (0..cols).map(|_| if rnd.next() < density { rnd.next() * 0.9 } else { 1.0 }).collect()).collect();
            let pairs: Pairs =
                cost.iter().map(|r| r.iter().enumerate().filter(|(_, &c)| c < 1.0).map(|(j, &c)| (j, c)).collect()).collect();
            let (m, ur, uc) = assign(&pairs, cols, 0.8);
            assert!(m.iter().all(|&(r, c)| cost[r][c] <= 0.8));
            assert_eq!(ur.len() + m.len(), rows);
            assert_eq!(uc.len() + m.len(), cols);
            let total = m.iter().map(|&(r, c)| cost[r][c] as f64).sum::<f64>() + 0.4 * (rows + cols - 2 * m.len()) as f64;
            let want = dense_extended(&cost, 0.8);
            assert!((total - want).abs() < 1e-4, "round {round}: {total} vs {want} ({m:?})");
        }
    }

    #[test]
    fn the_grid_finds_every_overlapping_box() {
        let mut rnd = Lcg(3);
        for round in 0..50 {
            let n = 1 + (rnd.next() * 300.0) as usize;
            let scale = if round % 5 == 0 { 2000.0 } else { 100.0 };
            let mk = |rnd: &mut Lcg| {
                let (x, y) = (rnd.next() * 1920.0, rnd.next() * 1080.0);
                [x, y, x + 1.0 + rnd.next() * scale, y + 1.0 + rnd.next() * scale]
            };
            let boxes: Vec<[f32; 4]> = (0..n).map(|_| mk(&mut rnd)).collect();
            let queries: Vec<[f32; 4]> = (0..40).map(|_| mk(&mut rnd)).collect();
            let mut g = Grid::new(&boxes);
            for q in &queries {
                assert!(n <= MAX_SCANNED);
                let mut got = Vec::new();
                g.near(q, |i| got.push(i));
                got.sort_unstable();
                let before = got.len();
                got.dedup();
                assert_eq!(before, got.len(), "no box twice");
                for (i, b) in boxes.iter().enumerate() {
                    if iou(q, b) > 0.0 {
                        assert!(got.binary_search(&i).is_ok(), "box {i} overlaps the query but was not found");
                    }
                }
            }
        }
    }

    #[test]
    fn thousands_of_boxes_on_one_spot_are_bounded() {
        let boxes = vec![[10.0, 10.0, 50.0, 90.0]; 5000];
        let mut g = Grid::new(&boxes);
        let p = pairs(&boxes, &mut g, 0.8, |_, _, o| 1.0 - o);
        assert!(p.iter().all(|r| r.len() == MAX_CANDIDATES));
        let (m, _, _) = assign(&p, boxes.len(), 0.8);
        assert!(m.len() >= MAX_CANDIDATES);
    }
}
