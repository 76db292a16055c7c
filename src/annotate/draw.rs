//! Drawing on packed BGR frames: box outlines (solid or dashed), translucent fills and text in
//! the bundled DejaVu Sans Condensed Bold (ab_glyph), glyphs rasterised once per size and cached.
#![forbid(unsafe_code)]

use std::collections::HashMap;

use ab_glyph::{Font, FontRef, PxScale, ScaleFont};

/// The bundled font (assets/fonts, DejaVu licence beside it).
const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSansCondensed-Bold.ttf");

/// A packed BGR image being drawn on.
pub struct Canvas<'a> {
    pub data: &'a mut [u8],
    pub width: u32,
    pub height: u32,
}

impl Canvas<'_> {
    fn put(&mut self, x: i64, y: i64, c: [u8; 3]) {
        if x >= 0 && y >= 0 && (x as u32) < self.width && (y as u32) < self.height {
            let i = (y as usize * self.width as usize + x as usize) * 3;
            self.data[i..i + 3].copy_from_slice(&c);
        }
    }

    fn blend(&mut self, x: i64, y: i64, c: [u8; 3], alpha: f32) {
        if x >= 0 && y >= 0 && (x as u32) < self.width && (y as u32) < self.height {
            let i = (y as usize * self.width as usize + x as usize) * 3;
            for (d, &c) in self.data[i..i + 3].iter_mut().zip(&c) {
                *d = (*d as f32 * (1.0 - alpha) + c as f32 * alpha).round().clamp(0.0, 255.0) as u8;
            }
        }
    }

    /// Fills `[x0, x1) x [y0, y1)` with `c` at opacity `alpha` (clipped to the image).
    pub fn fill(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, c: [u8; 3], alpha: f32) {
        let (x0, x1) = (x0.max(0), x1.min(self.width as i64));
        let (y0, y1) = (y0.max(0), y1.min(self.height as i64));
        for y in y0..y1 {
            for x in x0..x1 {
                if alpha >= 1.0 {
                    self.put(x, y, c);
                } else {
                    self.blend(x, y, c, alpha);
                }
            }
        }
    }

    /// The outline of the box `[x0, y0, x1, y1]` (pixels), `t` pixels thick inside it; dashed
    /// outlines draw `dash` pixels on, `dash` off along each side.
    pub fn rect(&mut self, b: [f32; 4], t: i64, c: [u8; 3], dash: Option<i64>) {
        let (x0, y0) = (b[0].floor() as i64, b[1].floor() as i64);
        let (x1, y1) = ((b[2].ceil() as i64 - 1).max(x0), (b[3].ceil() as i64 - 1).max(y0));
        let on = |k: i64| dash.is_none_or(|d| (k / d.max(1)) % 2 == 0);
        for x in x0..=x1 {
            if on(x - x0) {
                for k in 0..t {
                    self.put(x, y0 + k, c);
                    self.put(x, y1 - k, c);
                }
            }
        }
        for y in y0..=y1 {
            if on(y - y0) {
                for k in 0..t {
                    self.put(x0 + k, y, c);
                    self.put(x1 - k, y, c);
                }
            }
        }
    }
}

/// One rasterised glyph: coverage rows, its offset from the pen, and the advance.
struct Glyph {
    w: usize,
    h: usize,
    left: i64,
    top: i64,
    advance: f32,
    coverage: Vec<f32>,
}

/// Text in the bundled font at one pixel size.
pub struct Text {
    font: FontRef<'static>,
    scale: PxScale,
    glyphs: HashMap<char, Glyph>,
    /// Line height and ascent, pixels.
    pub line: i64,
    ascent: f32,
}

impl Text {
    /// Text `px` pixels high.
    pub fn new(px: f32) -> Self {
        let font = FontRef::try_from_slice(FONT).expect("the bundled font parses");
        let scale = PxScale::from(px);
        let sf = font.as_scaled(scale);
        let (ascent, descent) = (sf.ascent(), sf.descent());
        Self { font, scale, glyphs: HashMap::new(), line: (ascent - descent).ceil() as i64, ascent }
    }

    fn glyph(&mut self, ch: char) -> &Glyph {
        let (font, scale, ascent) = (&self.font, self.scale, self.ascent);
        self.glyphs.entry(ch).or_insert_with(|| {
            let sf = font.as_scaled(scale);
            let id = font.glyph_id(ch);
            let advance = sf.h_advance(id);
            let g = id.with_scale_and_position(scale, ab_glyph::point(0.0, ascent));
            match font.outline_glyph(g) {
                Some(o) => {
                    let bb = o.px_bounds();
                    let (w, h) = (bb.width() as usize, bb.height() as usize);
                    let mut coverage = vec![0.0; w * h];
                    o.draw(|x, y, c| {
                        if let Some(v) = coverage.get_mut(y as usize * w + x as usize) {
                            *v = c;
                        }
                    });
                    Glyph { w, h, left: bb.min.x.floor() as i64, top: bb.min.y.floor() as i64, advance, coverage }
                }
                None => Glyph { w: 0, h: 0, left: 0, top: 0, advance, coverage: Vec::new() },
            }
        })
    }

    /// Width of `s` in pixels.
    pub fn width(&mut self, s: &str) -> i64 {
        s.chars().map(|c| self.glyph(c).advance).sum::<f32>().ceil() as i64
    }

    /// Draws `s` with its top-left corner at `(x, y)`.
    pub fn draw(&mut self, canvas: &mut Canvas<'_>, x: i64, y: i64, s: &str, c: [u8; 3]) {
        let mut pen = x as f32;
        for ch in s.chars() {
            let g = self.glyph(ch);
            let gx = pen.round() as i64 + g.left;
            for row in 0..g.h {
                for col in 0..g.w {
                    let a = g.coverage[row * g.w + col];
                    if a > 0.0 {
                        canvas.blend(gx + col as i64, y + g.top + row as i64, c, a.min(1.0));
                    }
                }
            }
            pen += g.advance;
        }
    }

    /// `s` on a filled label background: above `(x, y)` when there is room, else below it.
    /// Returns the label's rectangle.
    pub fn label(&mut self, canvas: &mut Canvas<'_>, x: i64, y: i64, s: &str, fg: [u8; 3], bg: [u8; 3]) -> [i64; 4] {
        let (w, h) = (self.width(s) + 6, self.line + 2);
        let top = if y - h >= 0 { y - h } else { y };
        let left = x.clamp(0, (canvas.width as i64 - w).max(0));
        canvas.fill(left, top, left + w, top + h, bg, 0.85);
        self.draw(canvas, left + 3, top + 1, s, fg);
        [left, top, left + w, top + h]
    }
}

/// Twenty distinct colours (BGR), for tracks and classes.
pub const PALETTE: [[u8; 3]; 20] = [
    [180, 119, 31],
    [14, 127, 255],
    [44, 160, 44],
    [40, 39, 214],
    [189, 103, 148],
    [75, 86, 140],
    [194, 119, 227],
    [34, 189, 188],
    [207, 190, 23],
    [232, 199, 174],
    [120, 187, 255],
    [138, 223, 152],
    [150, 152, 255],
    [213, 176, 197],
    [148, 156, 196],
    [210, 182, 247],
    [141, 219, 219],
    [229, 218, 158],
    [0, 215, 255],
    [255, 0, 255],
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxes_text_and_fills_land_where_asked() {
        let (w, h) = (64u32, 48u32);
        let mut px = vec![0u8; (w * h * 3) as usize];
        let mut c = Canvas { data: &mut px, width: w, height: h };
        c.rect([10.0, 10.0, 30.0, 20.0], 2, [0, 0, 255], None);
        let at = |px: &[u8], x: usize, y: usize| [px[(y * 64 + x) * 3], px[(y * 64 + x) * 3 + 1], px[(y * 64 + x) * 3 + 2]];
        assert_eq!(at(&px, 10, 10), [0, 0, 255]);
        assert_eq!(at(&px, 29, 19), [0, 0, 255]);
        assert_eq!(at(&px, 11, 15), [0, 0, 255], "2 px thick");
        assert_eq!(at(&px, 20, 15), [0, 0, 0], "inside untouched");
        // Dashed: gaps along the top edge.
        let mut px2 = vec![0u8; (w * h * 3) as usize];
        let mut c = Canvas { data: &mut px2, width: w, height: h };
        c.rect([0.0, 0.0, 40.0, 40.0], 1, [255, 255, 255], Some(4));
        assert_eq!(at(&px2, 1, 0), [255, 255, 255]);
        assert_eq!(at(&px2, 5, 0), [0, 0, 0]);
        // Off-image boxes are clipped, not a panic.
        let mut c = Canvas { data: &mut px2, width: w, height: h };
        c.rect([-50.0, -50.0, 500.0, 500.0], 3, [1, 2, 3], None);
        c.fill(-5, -5, 1000, 2, [9, 9, 9], 1.0);
        // Text leaves ink inside its label and nowhere else.
        let mut px3 = vec![0u8; (w * h * 3) as usize];
        let mut c = Canvas { data: &mut px3, width: w, height: h };
        let mut t = Text::new(12.0);
        let r = t.label(&mut c, 2, 30, "p1", [255, 255, 255], [0, 0, 0]);
        let ink = (0..h as usize)
            .flat_map(|y| (0..w as usize).map(move |x| (x, y)))
            .filter(|&(x, y)| at(&px3, x, y) != [0, 0, 0])
            .collect::<Vec<_>>();
        assert!(!ink.is_empty());
        assert!(ink.iter().all(|&(x, y)| (x as i64) >= r[0] && (x as i64) < r[2] && (y as i64) >= r[1] && (y as i64) < r[3]), "{r:?}");
    }
}
