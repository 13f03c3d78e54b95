//! Line plots as PNG images, drawn without a plotting library.
//!
//! The Python library's web example returns a matplotlib plot of a sine wave as a raw
//! `image/png` payload, which a browser shows. This module draws the same kind of figure (a
//! title, a framed plot area with a grid, numbered ticks, axis labels and an anti-aliased
//! curve) into an RGB pixel buffer and encodes it with the `png` crate, so the demo and the
//! examples serve a real plot with one small dependency.
//!
//! ```
//! let png = tarp::plot::sine_wave_png(0.0, 10.0)?;
//! assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
//! # Ok::<(), tarp::plot::PlotError>(())
//! ```

use std::fmt;

/// Number of points [`sine_wave`] samples, as the Python examples' `numpy.linspace(lower,
/// upper, 100)`.
pub const SINE_POINTS: usize = 100;

/// Smallest width or height accepted, in pixels (room for the margins and the labels).
pub const MIN_SIDE: u32 = 160;
/// Largest width or height accepted, in pixels (bounds the buffer at 48 MiB).
pub const MAX_SIDE: u32 = 4096;

/// What the figure looks like: its size in pixels and its texts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Figure {
    /// Width in pixels ([`MIN_SIDE`] to [`MAX_SIDE`]).
    pub width: u32,
    /// Height in pixels ([`MIN_SIDE`] to [`MAX_SIDE`]).
    pub height: u32,
    /// The title above the plot area (ASCII; other characters are drawn as `?`).
    pub title: String,
    /// The label under the x axis.
    pub x_label: String,
    /// The label left of the y axis, drawn vertically.
    pub y_label: String,
}

impl Default for Figure {
    /// 800 × 400 pixels, "Sine Wave", `x`, `sin(x)`: the Python README's figure.
    fn default() -> Self {
        Figure {
            width: 800,
            height: 400,
            title: "Sine Wave".into(),
            x_label: "x".into(),
            y_label: "sin(x)".into(),
        }
    }
}

/// Why a plot could not be drawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlotError {
    /// The width or height is outside [`MIN_SIDE`]..=[`MAX_SIDE`].
    Size {
        /// The width asked for.
        width: u32,
        /// The height asked for.
        height: u32,
    },
    /// `xs` and `ys` differ in length.
    Lengths {
        /// Length of `xs`.
        xs: usize,
        /// Length of `ys`.
        ys: usize,
    },
    /// The PNG encoder failed (its message).
    Encode(String),
}

impl fmt::Display for PlotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlotError::Size { width, height } => write!(
                f,
                "plot size {width}x{height} is outside {MIN_SIDE}..={MAX_SIDE} pixels per side"
            ),
            PlotError::Lengths { xs, ys } => {
                write!(f, "plot data: {xs} x values but {ys} y values")
            }
            PlotError::Encode(e) => write!(f, "PNG encoding failed: {e}"),
        }
    }
}

impl std::error::Error for PlotError {}

/// `n` evenly spaced numbers from `lower` to `upper` inclusive, as `numpy.linspace` computes
/// them (`lower + i * step`, the last one exactly `upper`; one point gives `[lower]`).
pub fn linspace(lower: f64, upper: f64, n: usize) -> Vec<f64> {
    match n {
        0 => Vec::new(),
        1 => vec![lower],
        _ => {
            let step = (upper - lower) / (n - 1) as f64;
            let mut v: Vec<f64> = (0..n).map(|i| lower + i as f64 * step).collect();
            v[n - 1] = upper;
            v
        }
    }
}

/// The sine wave of the Python examples: [`SINE_POINTS`] x values from `lower` to `upper`,
/// and their sines.
pub fn sine_wave(lower: f64, upper: f64) -> (Vec<f64>, Vec<f64>) {
    let xs = linspace(lower, upper, SINE_POINTS);
    let ys = xs.iter().map(|x| x.sin()).collect();
    (xs, ys)
}

/// The sine wave from `lower` to `upper` as a PNG with the default [`Figure`].
pub fn sine_wave_png(lower: f64, upper: f64) -> Result<Vec<u8>, PlotError> {
    let (xs, ys) = sine_wave(lower, upper);
    line_png(&xs, &ys, &Figure::default())
}

/// Plots `ys` against `xs` as a line and encodes the figure as an 8-bit RGB PNG.
///
/// Points with a non-finite coordinate are left out and break the line there. The axes span
/// the finite data (a single value gets a unit-wide range around it; no data at all gives
/// 0 to 1), with a 5 % margin on y.
pub fn line_png(xs: &[f64], ys: &[f64], figure: &Figure) -> Result<Vec<u8>, PlotError> {
    let (w, h) = (figure.width, figure.height);
    if !(MIN_SIDE..=MAX_SIDE).contains(&w) || !(MIN_SIDE..=MAX_SIDE).contains(&h) {
        return Err(PlotError::Size {
            width: w,
            height: h,
        });
    }
    if xs.len() != ys.len() {
        return Err(PlotError::Lengths {
            xs: xs.len(),
            ys: ys.len(),
        });
    }
    let mut canvas = Canvas::new(w as usize, h as usize);
    draw(&mut canvas, xs, ys, figure);
    canvas.encode()
}

#[cfg(test)]
const WHITE: Rgb = [255, 255, 255];
const BLACK: Rgb = [0, 0, 0];
const GRID: Rgb = [225, 225, 225];
/// matplotlib's first line colour ("tab:blue").
const LINE: Rgb = [31, 119, 180];

type Rgb = [u8; 3];

/// Data range of an axis, and its ticks.
struct Axis {
    min: f64,
    max: f64,
    ticks: Vec<f64>,
    decimals: usize,
}

impl Axis {
    /// An axis spanning the finite values of `data`, widened by `margin` (a fraction of the
    /// span) on each side.
    fn fit(data: &[f64], margin: f64) -> Axis {
        let (mut lo, mut hi) = data
            .iter()
            .filter(|v| v.is_finite())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            });
        if lo > hi {
            (lo, hi) = (0.0, 1.0);
        }
        // A span that overflows, or no span at all, gets a sane one.
        if !(hi - lo).is_finite() {
            (lo, hi) = (lo.max(-f64::MAX / 4.0), hi.min(f64::MAX / 4.0));
        }
        if hi - lo <= f64::EPSILON * lo.abs().max(hi.abs()).max(1.0) {
            let half = (lo.abs() * 0.05).max(0.5);
            (lo, hi) = (lo - half, hi + half);
        }
        let pad = (hi - lo) * margin;
        let (min, max) = (lo - pad, hi + pad);
        let (ticks, decimals) = nice_ticks(min, max);
        Axis {
            min,
            max,
            ticks,
            decimals,
        }
    }

    /// Where `v` falls along the axis, 0 at `min` and 1 at `max`.
    fn frac(&self, v: f64) -> f64 {
        (v - self.min) / (self.max - self.min)
    }
}

/// Round tick values (steps of 1, 2 or 5 times a power of ten) inside `[min, max]`, about
/// six of them, and the number of decimals that prints them exactly enough.
fn nice_ticks(min: f64, max: f64) -> (Vec<f64>, usize) {
    let raw = (max - min) / 6.0;
    if !(raw.is_finite() && raw > 0.0) {
        return (Vec::new(), 0);
    }
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let step = mag
        * if norm < 1.5 {
            1.0
        } else if norm < 3.0 {
            2.0
        } else if norm < 7.0 {
            5.0
        } else {
            10.0
        };
    let decimals = (-step.log10().floor()).clamp(0.0, 12.0) as usize;
    let first = (min / step).ceil();
    let mut ticks = Vec::new();
    for i in 0..20 {
        let t = (first + i as f64) * step;
        if t > max + step * 1e-9 {
            break;
        }
        // Snap values like 1e-17 to 0 so they print as "0".
        ticks.push(if t.abs() < step * 1e-9 { 0.0 } else { t });
    }
    (ticks, decimals)
}

fn tick_label(v: f64, decimals: usize) -> String {
    if v != 0.0 && (v.abs() >= 1e7 || v.abs() < 1e-6) {
        return format!("{v:.1e}");
    }
    let s = format!("{v:.decimals$}");
    // "-0.0" and friends print as zero.
    if s.trim_start_matches('-')
        .chars()
        .all(|c| c == '0' || c == '.')
    {
        s.trim_start_matches('-').to_owned()
    } else {
        s
    }
}

/// Glyph scale of the texts (5 × 7 font, each dot `SCALE` pixels wide).
const SCALE: usize = 2;
const GLYPH_W: usize = 5 * SCALE;
const GLYPH_H: usize = 7 * SCALE;
const ADVANCE: usize = GLYPH_W + SCALE;

fn draw(c: &mut Canvas, xs: &[f64], ys: &[f64], figure: &Figure) {
    let x_axis = Axis::fit(xs, 0.0);
    let y_axis = Axis::fit(ys, 0.05);
    let y_labels: Vec<String> = y_axis
        .ticks
        .iter()
        .map(|&t| tick_label(t, y_axis.decimals))
        .collect();
    let widest = y_labels.iter().map(|s| text_width(s)).max().unwrap_or(0);

    // The plot area, leaving room for the title, the labels and the tick labels.
    let left = (GLYPH_H + 8 + widest + 12).min(c.w / 3);
    let right = c.w.saturating_sub(24);
    let top = GLYPH_H + 20;
    let bottom = c.h.saturating_sub(2 * GLYPH_H + 28);
    if right <= left + 2 || bottom <= top + 2 {
        return;
    }
    let (pw, ph) = ((right - left) as f64, (bottom - top) as f64);
    let px = |v: f64| left as f64 + x_axis.frac(v) * pw;
    let py = |v: f64| bottom as f64 - y_axis.frac(v) * ph;

    // Grid and ticks.
    for &t in &x_axis.ticks {
        let x = px(t).round() as usize;
        c.vline(x, top, bottom, GRID);
        c.vline(x, bottom, bottom + 5, BLACK);
        let label = tick_label(t, x_axis.decimals);
        let lx = x.saturating_sub(text_width(&label) / 2);
        c.text(lx, bottom + 9, &label, BLACK);
    }
    for (&t, label) in y_axis.ticks.iter().zip(&y_labels) {
        let y = py(t).round() as usize;
        c.hline(left, right, y, GRID);
        c.hline(left.saturating_sub(5), left, y, BLACK);
        let lx = left.saturating_sub(9 + text_width(label));
        c.text(lx, y.saturating_sub(GLYPH_H / 2), label, BLACK);
    }

    // The curve, clipped to the plot area by construction (the axes span the data).
    let mut prev: Option<(f64, f64)> = None;
    for (&x, &y) in xs.iter().zip(ys) {
        if !(x.is_finite() && y.is_finite()) {
            prev = None;
            continue;
        }
        let p = (px(x), py(y));
        match prev {
            Some(q) => c.line(q, p, 2.0, LINE),
            None => c.line(p, p, 2.0, LINE),
        }
        prev = Some(p);
    }

    // Frame, title and axis labels.
    c.hline(left, right, top, BLACK);
    c.hline(left, right, bottom, BLACK);
    c.vline(left, top, bottom, BLACK);
    c.vline(right, top, bottom, BLACK);
    let centre_x = (left + right) / 2;
    c.text(
        centre_x.saturating_sub(text_width(&figure.title) / 2),
        8,
        &figure.title,
        BLACK,
    );
    c.text(
        centre_x.saturating_sub(text_width(&figure.x_label) / 2),
        bottom + GLYPH_H + 18,
        &figure.x_label,
        BLACK,
    );
    let centre_y = (top + bottom) / 2;
    c.text_up(
        6,
        centre_y + text_width(&figure.y_label) / 2,
        &figure.y_label,
        BLACK,
    );
}

fn text_width(s: &str) -> usize {
    (s.chars().count() * ADVANCE).saturating_sub(SCALE)
}

/// An RGB pixel buffer.
struct Canvas {
    w: usize,
    h: usize,
    px: Vec<u8>,
}

impl Canvas {
    fn new(w: usize, h: usize) -> Canvas {
        Canvas {
            w,
            h,
            px: vec![255; w * h * 3],
        }
    }

    /// Mixes `color` into pixel (x, y) with opacity `alpha` (0 to 1); outside is ignored.
    fn blend(&mut self, x: usize, y: usize, color: Rgb, alpha: f64) {
        if x >= self.w || y >= self.h || alpha <= 0.0 {
            return;
        }
        let a = alpha.min(1.0);
        let i = (y * self.w + x) * 3;
        for (k, &c) in color.iter().enumerate() {
            let old = f64::from(self.px[i + k]);
            self.px[i + k] = (old + (f64::from(c) - old) * a).round() as u8;
        }
    }

    fn hline(&mut self, x0: usize, x1: usize, y: usize, color: Rgb) {
        for x in x0..=x1 {
            self.blend(x, y, color, 1.0);
        }
    }

    fn vline(&mut self, x: usize, y0: usize, y1: usize, color: Rgb) {
        for y in y0..=y1 {
            self.blend(x, y, color, 1.0);
        }
    }

    /// An anti-aliased segment of this width: each pixel near it is covered by how far its
    /// centre is from the segment.
    fn line(&mut self, a: (f64, f64), b: (f64, f64), width: f64, color: Rgb) {
        let half = width / 2.0;
        let reach = half + 1.0;
        let x0 = (a.0.min(b.0) - reach).floor().max(0.0) as usize;
        let x1 = (a.0.max(b.0) + reach)
            .ceil()
            .min(self.w as f64 - 1.0)
            .max(0.0) as usize;
        let y0 = (a.1.min(b.1) - reach).floor().max(0.0) as usize;
        let y1 = (a.1.max(b.1) + reach)
            .ceil()
            .min(self.h as f64 - 1.0)
            .max(0.0) as usize;
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let len2 = dx * dx + dy * dy;
        for y in y0..=y1 {
            for x in x0..=x1 {
                let (cx, cy) = (x as f64 + 0.5, y as f64 + 0.5);
                let t = if len2 > 0.0 {
                    (((cx - a.0) * dx + (cy - a.1) * dy) / len2).clamp(0.0, 1.0)
                } else {
                    0.0
                };
                let (ex, ey) = (a.0 + t * dx - cx, a.1 + t * dy - cy);
                let d = (ex * ex + ey * ey).sqrt();
                let coverage = (half + 0.5 - d).clamp(0.0, 1.0);
                if coverage > 0.0 {
                    self.blend(x, y, color, coverage);
                }
            }
        }
    }

    /// Text left to right, its top-left corner at (x, y).
    fn text(&mut self, x: usize, y: usize, s: &str, color: Rgb) {
        for (n, ch) in s.chars().enumerate() {
            let gx = x + n * ADVANCE;
            self.glyph(ch, color, |row, col| (gx + col, y + row));
        }
    }

    /// Text rotated a quarter turn anticlockwise (reading bottom to top), starting at
    /// (x, y) which is its bottom-left corner.
    fn text_up(&mut self, x: usize, y: usize, s: &str, color: Rgb) {
        for (n, ch) in s.chars().enumerate() {
            let base = n * ADVANCE;
            self.glyph(ch, color, |row, col| (x + row, y.wrapping_sub(base + col)));
        }
    }

    /// Draws one glyph; `at(row, col)` maps a pixel of the scaled glyph to the canvas.
    fn glyph(&mut self, ch: char, color: Rgb, at: impl Fn(usize, usize) -> (usize, usize)) {
        let rows = glyph(ch);
        for (r, bits) in rows.iter().enumerate() {
            for c in 0..5 {
                if bits & (0x10 >> c) == 0 {
                    continue;
                }
                for sy in 0..SCALE {
                    for sx in 0..SCALE {
                        let (x, y) = at(r * SCALE + sy, c * SCALE + sx);
                        self.blend(x, y, color, 1.0);
                    }
                }
            }
        }
    }

    fn encode(self) -> Result<Vec<u8>, PlotError> {
        let err = |e: png::EncodingError| PlotError::Encode(e.to_string());
        let mut out = Vec::new();
        {
            let mut encoder = png::Encoder::new(&mut out, self.w as u32, self.h as u32);
            encoder.set_color(png::ColorType::Rgb);
            encoder.set_depth(png::BitDepth::Eight);
            let mut writer = encoder.write_header().map_err(err)?;
            writer.write_image_data(&self.px).map_err(err)?;
            writer.finish().map_err(err)?;
        }
        Ok(out)
    }
}

/// The 5 × 7 dot pattern of a character (bit 4 is the leftmost column); `?` for characters
/// outside printable ASCII.
fn glyph(ch: char) -> [u8; 7] {
    match ch {
        ' ' => [0; 7],
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        '.' => [0, 0, 0, 0, 0, 0x0C, 0x0C],
        ',' => [0, 0, 0, 0, 0x0C, 0x04, 0x08],
        ':' => [0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0],
        '-' => [0, 0, 0, 0x0E, 0, 0, 0],
        '+' => [0, 0x04, 0x04, 0x1F, 0x04, 0x04, 0],
        '=' => [0, 0, 0x1F, 0, 0x1F, 0, 0],
        '_' => [0, 0, 0, 0, 0, 0, 0x1F],
        '/' => [0, 0x01, 0x02, 0x04, 0x08, 0x10, 0],
        '(' => [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02],
        ')' => [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08],
        '[' => [0x0E, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0E],
        ']' => [0x0E, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0E],
        '*' => [0, 0x04, 0x15, 0x0E, 0x15, 0x04, 0],
        '\'' => [0x04, 0x04, 0x08, 0, 0, 0, 0],
        'A' => [0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'B' => [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        'C' => [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E],
        'D' => [0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C],
        'E' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F],
        'F' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        'G' => [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F],
        'H' => [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'I' => [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'J' => [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C],
        'K' => [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        'M' => [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11],
        'N' => [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        'O' => [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'P' => [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        'Q' => [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D],
        'R' => [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        'S' => [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E],
        'T' => [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'U' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'V' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04],
        'W' => [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A],
        'X' => [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
        'Y' => [0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04],
        'Z' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F],
        'a' => [0, 0, 0x0E, 0x01, 0x0F, 0x11, 0x0F],
        'b' => [0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1E],
        'c' => [0, 0, 0x0E, 0x10, 0x10, 0x11, 0x0E],
        'd' => [0x01, 0x01, 0x0D, 0x13, 0x11, 0x11, 0x0F],
        'e' => [0, 0, 0x0E, 0x11, 0x1F, 0x10, 0x0E],
        'f' => [0x06, 0x09, 0x08, 0x1C, 0x08, 0x08, 0x08],
        'g' => [0, 0x0F, 0x11, 0x11, 0x0F, 0x01, 0x0E],
        'h' => [0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11],
        'i' => [0x04, 0, 0x0C, 0x04, 0x04, 0x04, 0x0E],
        'j' => [0x02, 0, 0x06, 0x02, 0x02, 0x12, 0x0C],
        'k' => [0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12],
        'l' => [0x0C, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'm' => [0, 0, 0x1A, 0x15, 0x15, 0x11, 0x11],
        'n' => [0, 0, 0x16, 0x19, 0x11, 0x11, 0x11],
        'o' => [0, 0, 0x0E, 0x11, 0x11, 0x11, 0x0E],
        'p' => [0, 0, 0x1E, 0x11, 0x1E, 0x10, 0x10],
        'q' => [0, 0, 0x0D, 0x13, 0x0F, 0x01, 0x01],
        'r' => [0, 0, 0x16, 0x19, 0x10, 0x10, 0x10],
        's' => [0, 0, 0x0E, 0x10, 0x0E, 0x01, 0x1E],
        't' => [0x08, 0x08, 0x1C, 0x08, 0x08, 0x09, 0x06],
        'u' => [0, 0, 0x11, 0x11, 0x11, 0x13, 0x0D],
        'v' => [0, 0, 0x11, 0x11, 0x11, 0x0A, 0x04],
        'w' => [0, 0, 0x11, 0x11, 0x15, 0x15, 0x0A],
        'x' => [0, 0, 0x11, 0x0A, 0x04, 0x0A, 0x11],
        'y' => [0, 0, 0x11, 0x11, 0x0F, 0x01, 0x0E],
        'z' => [0, 0, 0x1F, 0x02, 0x04, 0x08, 0x1F],
        _ => [0x0E, 0x11, 0x01, 0x02, 0x04, 0, 0x04],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(png_bytes: &[u8]) -> (png::OutputInfo, Vec<u8>) {
        let decoder = png::Decoder::new(png_bytes);
        let mut reader = decoder.read_info().expect("PNG header");
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).expect("PNG frame");
        buf.truncate(info.buffer_size());
        (info, buf)
    }

    fn pixel(buf: &[u8], w: usize, x: usize, y: usize) -> Rgb {
        let i = (y * w + x) * 3;
        [buf[i], buf[i + 1], buf[i + 2]]
    }

    #[test]
    fn linspace_matches_numpy() {
        assert_eq!(linspace(0.0, 1.0, 0), Vec::<f64>::new());
        assert_eq!(linspace(2.0, 5.0, 1), vec![2.0]);
        assert_eq!(linspace(0.0, 1.0, 5), vec![0.0, 0.25, 0.5, 0.75, 1.0]);
        // numpy.linspace(0, 100, 15)[1] == 7.142857142857143, and the last point is exact.
        let v = linspace(0.0, 100.0, 15);
        assert_eq!(v[1], 7.142857142857143);
        assert_eq!(v[14], 100.0);
        assert_eq!(linspace(10.0, 0.0, 3), vec![10.0, 5.0, 0.0]);
    }

    #[test]
    fn sine_plot_is_a_decodable_png_with_a_blue_curve() {
        let bytes = sine_wave_png(0.0, 10.0).unwrap();
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
        let (info, buf) = decode(&bytes);
        assert_eq!((info.width, info.height), (800, 400));
        assert_eq!(info.color_type, png::ColorType::Rgb);
        let w = info.width as usize;
        // The corner is background; some pixels are the curve's blue, some are black text.
        assert_eq!(pixel(&buf, w, 0, 0), WHITE);
        let count = |c: Rgb| buf.chunks_exact(3).filter(|p| *p == c).count();
        assert!(count(LINE) > 500, "blue pixels: {}", count(LINE));
        assert!(count(BLACK) > 1000, "black pixels: {}", count(BLACK));
        // Distinct ranges give distinct pictures.
        assert_ne!(bytes, sine_wave_png(0.0, 3.0).unwrap());
    }

    #[test]
    fn curve_follows_the_data() {
        // A rising line: its leftmost blue pixel is lower on the image than its rightmost.
        let fig = Figure {
            width: 300,
            height: 200,
            ..Figure::default()
        };
        let bytes = line_png(&[0.0, 1.0], &[0.0, 1.0], &fig).unwrap();
        let (info, buf) = decode(&bytes);
        let w = info.width as usize;
        let blue: Vec<(usize, usize)> = (0..info.height as usize)
            .flat_map(|y| (0..w).map(move |x| (x, y)))
            .filter(|&(x, y)| pixel(&buf, w, x, y) == LINE)
            .collect();
        let leftmost = blue.iter().min_by_key(|p| p.0).unwrap();
        let rightmost = blue.iter().max_by_key(|p| p.0).unwrap();
        assert!(leftmost.1 > rightmost.1 + 50, "{leftmost:?} {rightmost:?}");
    }

    #[test]
    fn odd_data_still_plots() {
        let fig = Figure::default();
        for (xs, ys) in [
            (vec![], vec![]),
            (vec![1.0], vec![1.0]),
            (vec![1.0, 1.0], vec![3.0, 3.0]),
            (vec![0.0, f64::NAN, 2.0], vec![1.0, 2.0, f64::INFINITY]),
            (vec![-f64::MAX, f64::MAX], vec![f64::MAX, -f64::MAX]),
            (vec![1e-300, 2e-300], vec![1e300, -1e300]),
        ] {
            let bytes = line_png(&xs, &ys, &fig).unwrap();
            decode(&bytes);
        }
    }

    #[test]
    fn bad_sizes_and_lengths_are_errors() {
        let mut fig = Figure {
            width: 10,
            ..Figure::default()
        };
        assert_eq!(
            line_png(&[], &[], &fig),
            Err(PlotError::Size {
                width: 10,
                height: 400
            })
        );
        fig.width = MAX_SIDE + 1;
        assert!(line_png(&[], &[], &fig).is_err());
        assert_eq!(
            line_png(&[1.0], &[], &Figure::default()),
            Err(PlotError::Lengths { xs: 1, ys: 0 })
        );
    }

    #[test]
    fn ticks_are_round_and_labels_clean() {
        let (t, d) = nice_ticks(0.0, 10.0);
        assert_eq!(t, vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        assert_eq!(d, 0);
        let (t, d) = nice_ticks(-1.1, 1.1);
        assert_eq!(d, 1);
        assert!(t.contains(&0.0) && t.len() >= 4 && t.len() <= 12, "{t:?}");
        assert_eq!(tick_label(-0.0, 1), "0.0");
        assert_eq!(tick_label(0.5, 1), "0.5");
        assert_eq!(tick_label(1e9, 0), "1.0e9");
        assert!(nice_ticks(1.0, 1.0).0.is_empty());
    }
}
