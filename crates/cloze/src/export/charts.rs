//! SVG charts for the desktop app and exported reports: a bar chart (e.g. the label distribution), a
//! histogram (e.g. text lengths in tokens), a confusion matrix and a line chart (e.g. training loss and
//! dev accuracy over steps).
//!
//! Every function returns a complete, self-contained SVG document as a `String`, drawn with
//! `plotters`' SVG backend. Text is written as SVG `<text>` in the generic `sans-serif` family, so
//! the viewer (the app's web view, a browser, a report renderer) supplies the font; layout uses our
//! own conservative width estimate, so nothing here needs a font file. Output is deterministic: the
//! same input gives a byte-identical SVG.
//!
//! Empty input draws the title and "No data yet" instead of failing; NaN and infinite values are
//! skipped; inputs with inconsistent shapes are an [`Error`].

use plotters::coord::Shift;
use plotters::drawing::DrawingAreaErrorKind;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::error::{Error, Result};

/// One line of a [`line_chart`]: a name for the legend and its `(x, y)` points, drawn in the order
/// given.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// What an empty chart says in its middle.
const NO_DATA: &str = "No data yet";

/// The most bins a histogram draws, whatever it is asked for.
const MAX_BINS: usize = 200;

/// The smallest chart, in pixels, that still has room for a title and a plot.
const MIN_SIZE: (u32, u32) = (160, 120);

const FONT: &str = "sans-serif";
const TITLE_PX: f64 = 16.0;
const LABEL_PX: f64 = 12.0;
const TICK_PX: f64 = 11.0;
/// Outer margin around everything.
const MARGIN: i32 = 12;
/// Height of the title band at the top.
const TITLE_H: i32 = 36;
/// Average glyph advance as a share of the font size: generous for mixed-case sans-serif text (DejaVu
/// Sans, one of the widest, averages about 0.5), so an estimate made with it rarely undershoots.
const CHAR_EM: f64 = 0.55;
/// Advance of a digit as a share of the font size (0.636 in DejaVu Sans).
const DIGIT_EM: f64 = 0.64;
/// Slack for float comparisons when putting values into bins.
const EPS: f64 = 1e-9;

const ACCENT: RGBColor = RGBColor(0x4c, 0x72, 0xb0);
const INK: RGBColor = RGBColor(0x33, 0x33, 0x33);
const MUTED: RGBColor = RGBColor(0x6b, 0x6b, 0x6b);
const AXIS: RGBColor = RGBColor(0xb4, 0xb4, 0xb4);
const GRID: RGBColor = RGBColor(0xe8, 0xe8, 0xe8);

/// Line colours, muted and distinguishable, starting with the accent.
const SERIES_COLOURS: [RGBColor; 8] = [
    ACCENT,
    RGBColor(0xdd, 0x84, 0x52),
    RGBColor(0x55, 0xa8, 0x68),
    RGBColor(0xc4, 0x4e, 0x52),
    RGBColor(0x81, 0x72, 0xb3),
    RGBColor(0x93, 0x78, 0x60),
    RGBColor(0xda, 0x8b, 0xc3),
    RGBColor(0x8c, 0x8c, 0x8c),
];

/// The sequential blue scale of the heatmap (ColorBrewer "Blues", 9 classes), light to dark.
const BLUES: [(u8, u8, u8); 9] = [
    (0xf7, 0xfb, 0xff),
    (0xde, 0xeb, 0xf7),
    (0xc6, 0xdb, 0xef),
    (0x9e, 0xca, 0xe1),
    (0x6b, 0xae, 0xd6),
    (0x42, 0x92, 0xc6),
    (0x21, 0x71, 0xb5),
    (0x08, 0x51, 0x9c),
    (0x08, 0x30, 0x6b),
];

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// The grid, axes and text every chart here shares.
trait HouseStyle {
    fn house_style(&mut self) -> &mut Self;
}

impl<X: Ranged, Y: Ranged, DB: DrawingBackend> HouseStyle for plotters::chart::MeshStyle<'_, '_, X, Y, DB> {
    fn house_style(&mut self) -> &mut Self {
        self.max_light_lines(0)
            .bold_line_style(GRID)
            .axis_style(AXIS)
            .label_style(text(TICK_PX, MUTED))
            .axis_desc_style(text(LABEL_PX, INK))
    }
}
type Points = Vec<(f64, f64)>;
type Drawn<T = ()> = std::result::Result<T, DrawingAreaErrorKind<std::io::Error>>;

/// A bar per category, e.g. how many rows carry each label.
///
/// Category labels go under the bars (shortened with an ellipsis, and turned upright when there are
/// many), the value above each bar. Bars with a NaN or infinite value are left out.
pub fn bar_chart(title: &str, bars: &[(String, f64)], y_label: &str, size: (u32, u32)) -> Result<String> {
    check_size(size)?;
    let bars: Vec<(&str, f64)> =
        bars.iter().filter(|(_, v)| v.is_finite()).map(|(l, v)| (l.as_str(), *v)).collect();
    if bars.is_empty() {
        return no_data(title, size);
    }
    let n = bars.len();
    let lo = bars.iter().map(|b| b.1).fold(0.0, f64::min);
    let hi = bars.iter().map(|b| b.1).fold(0.0, f64::max);
    let hi = if lo == 0.0 && hi == 0.0 { 1.0 } else { hi };
    // Headroom for the value printed beyond the end of each bar.
    let span = hi - lo;
    let (y0, y1) =
        (if lo < 0.0 { lo - span * 0.12 } else { 0.0 }, if hi > 0.0 { hi + span * 0.12 } else { 0.0 });

    let y_area = y_axis_width(&[y0, y1]);
    let plot_w = f64::from(size.0) - 2.0 * f64::from(MARGIN) - f64::from(y_area);
    let slot = plot_w / n as f64;
    let labels: Vec<&str> = bars.iter().map(|b| b.0).collect();
    let layout = CategoryLabels::fit(&labels, slot, f64::from(size.1) * 0.28);

    // Values above the bars: as large as fits in a slot, and left out if even tiny text would not.
    let values: Vec<String> = bars.iter().map(|b| fmt_num(b.1)).collect();
    let widest = values.iter().map(|v| v.chars().count()).max().unwrap_or(1) as f64;
    let value_px = (slot * 0.95 / (widest * DIGIT_EM)).min(TICK_PX);

    // Counts (whole numbers) get whole-number ticks only: no "0.5 rows".
    let counts = bars.iter().all(|b| b.1.fract() == 0.0);
    let mut y_ticks = ticks(f64::from(size.1) - f64::from(TITLE_H + layout.height), 40.0, 6);
    if counts {
        y_ticks = y_ticks.min((y1 - y0).floor() as usize + 1).max(2);
    }

    render(size, |root| {
        let body = draw_title(root, title, size)?;
        let mut chart = ChartBuilder::on(&body)
            .margin_left(MARGIN)
            .margin_right(MARGIN)
            .margin_bottom(MARGIN / 2)
            .x_label_area_size(layout.height)
            .y_label_area_size(y_area)
            .build_cartesian_2d(0.0..n as f64, y0..y1)?;
        chart
            .configure_mesh()
            .house_style()
            .disable_x_mesh()
            .x_labels(0)
            .y_labels(y_ticks)
            .y_desc(y_label)
            .y_label_formatter(&|v| {
                if counts && v.fract().abs() > 1e-9 { String::new() } else { fmt_num(*v) }
            })
            .draw()?;
        chart.draw_series(bars.iter().enumerate().map(|(i, (_, v))| {
            let x = i as f64;
            Rectangle::new([(x + 0.15, 0.0), (x + 0.85, *v)], ACCENT.filled())
        }))?;
        if lo < 0.0 {
            chart.draw_series(std::iter::once(PathElement::new(vec![(0.0, 0.0), (n as f64, 0.0)], AXIS)))?;
        }
        if value_px >= 7.0 {
            chart.draw_series(bars.iter().zip(&values).enumerate().map(|(i, ((_, v), s))| {
                let (dy, v_pos) = if *v < 0.0 { (4, VPos::Top) } else { (-4, VPos::Bottom) };
                EmptyElement::at((i as f64 + 0.5, *v))
                    + Text::new(s.clone(), (0, dy), text(value_px, INK).pos(Pos::new(HPos::Center, v_pos)))
            }))?;
        }
        let (_, axis_y) = chart.backend_coord(&(0.0, y0));
        let centres: Vec<i32> = (0..n).map(|i| chart.backend_coord(&(i as f64 + 0.5, y0)).0).collect();
        layout.draw(root, &labels, &centres, axis_y + 6)
    })
}

/// How the values spread, e.g. text lengths in tokens: at most `bins` bars of equal width, with round
/// bin edges (whole numbers when every value is whole), and the number of rows in each on the y
/// axis. NaN and infinite values are left out; `bins` must be at least 1 (and more than 200 counts
/// as 200).
pub fn histogram(
    title: &str,
    values: &[f64],
    bins: usize,
    x_label: &str,
    size: (u32, u32),
) -> Result<String> {
    check_size(size)?;
    if bins == 0 {
        return Err(Error::invalid("a histogram needs at least 1 bin, got 0"));
    }
    let values: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if values.is_empty() {
        return no_data(title, size);
    }
    check_span(&values)?;
    let bins = Bins::new(&values, bins.min(MAX_BINS));
    let counts = bins.count(&values);
    let top = counts.iter().copied().max().unwrap_or(0);
    let y1 = top + (top / 10).max(1);
    // Whole-number ticks: never more tick labels than whole numbers on the axis. (The y axis is f64
    // because plotters' integer axes panic when light grid lines are turned off.)
    let y_ticks = ticks(f64::from(size.1 - TITLE_H as u32) - 50.0, 40.0, 6).min(y1 as usize + 1);
    let y1 = f64::from(y1);

    render(size, |root| {
        let body = draw_title(root, title, size)?;
        let mut chart = ChartBuilder::on(&body)
            .margin_left(MARGIN)
            .margin_right(MARGIN + 8)
            .margin_bottom(MARGIN / 2)
            .x_label_area_size(44)
            .y_label_area_size(y_axis_width(&[y1]))
            .build_cartesian_2d(bins.start..bins.edge(bins.count), 0.0..y1)?;
        chart
            .configure_mesh()
            .house_style()
            .disable_x_mesh()
            .x_labels(ticks(f64::from(size.0) - 100.0, 70.0, 8))
            .y_labels(y_ticks)
            .x_desc(x_label)
            .y_desc("rows")
            .x_label_formatter(&|v| fmt_num(*v))
            .y_label_formatter(&|v| fmt_num(*v))
            .draw()?;
        chart.draw_series(counts.iter().enumerate().filter(|(_, c)| **c > 0).map(|(i, c)| {
            Rectangle::new([(bins.edge(i), 0.0), (bins.edge(i + 1), f64::from(*c))], ACCENT.filled())
        }))?;
        // A hairline of white between neighbouring bars.
        chart.draw_series(counts.iter().enumerate().filter(|(_, c)| **c > 0).map(|(i, c)| {
            Rectangle::new([(bins.edge(i), 0.0), (bins.edge(i + 1), f64::from(*c))], WHITE.stroke_width(1))
        }))?;
        Ok(())
    })
}

/// A confusion matrix as a heatmap: `matrix[true_class][predicted_class]` counts, rows and columns in
/// the order of `classes`. Each cell is shaded by its share of the row (so every true class reads on
/// the same scale whatever its size) and shows its count.
///
/// `matrix` must be `classes.len()` × `classes.len()`; anything else is an error naming the shapes.
pub fn confusion_matrix(
    title: &str,
    classes: &[String],
    matrix: &[Vec<usize>],
    size: (u32, u32),
) -> Result<String> {
    check_size(size)?;
    let n = classes.len();
    if matrix.len() != n {
        return Err(Error::invalid(format!(
            "the confusion matrix has {} rows but there are {n} classes; it must be {n}×{n}",
            matrix.len()
        )));
    }
    if let Some((i, row)) = matrix.iter().enumerate().find(|(_, r)| r.len() != n) {
        return Err(Error::invalid(format!(
            "row {i} of the confusion matrix has {} columns but there are {n} classes; it must be {n}×{n}",
            row.len()
        )));
    }
    if n == 0 {
        return no_data(title, size);
    }
    let layout = MatrixLayout::new(classes, size);
    render(size, |root| {
        draw_title(root, title, size)?;
        layout.draw(root, classes, matrix)
    })
}

/// One or more lines over a shared x axis, e.g. training loss and dev accuracy over steps, with a
/// legend above the plot when there is more than one series. Points with a NaN or infinite
/// coordinate are left out; a series with a single point shows as a dot.
pub fn line_chart(
    title: &str,
    series: &[Series],
    x_label: &str,
    y_label: &str,
    size: (u32, u32),
) -> Result<String> {
    line_chart_in(title, series, x_label, y_label, size, None)
}

/// [`line_chart`] with a fixed y range (e.g. 0–1 for accuracy), widened only if a point lies outside.
pub fn line_chart_in(
    title: &str,
    series: &[Series],
    x_label: &str,
    y_label: &str,
    size: (u32, u32),
    y_range: Option<(f64, f64)>,
) -> Result<String> {
    check_size(size)?;
    // Colours follow the caller's order, so a series keeps its colour when another one is empty.
    let lines: Vec<(&Series, RGBColor, Points)> = series
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let points = s.points.iter().copied().filter(|(x, y)| x.is_finite() && y.is_finite()).collect();
            (s, SERIES_COLOURS[i % SERIES_COLOURS.len()], points)
        })
        .filter(|(_, _, p): &(_, _, Points)| !p.is_empty())
        .collect();
    if lines.is_empty() {
        return no_data(title, size);
    }
    let all = || lines.iter().flat_map(|l| l.2.iter());
    check_span(&all().map(|p| p.0).collect::<Vec<_>>())?;
    check_span(&all().map(|p| p.1).collect::<Vec<_>>())?;
    let (x0, x1) = pad_range(all().map(|p| p.0), 0.0);
    let (y0, y1) = match y_range {
        Some((lo, hi)) => all().fold((lo, hi), |(a, b), p| (a.min(p.1), b.max(p.1))),
        None => pad_range(all().map(|p| p.1), 0.06),
    };
    let legend = if lines.len() > 1 {
        let entries: Vec<(&str, RGBColor)> = lines.iter().map(|l| (l.0.name.as_str(), l.1)).collect();
        Some(Legend::new(&entries, size.0))
    } else {
        None
    };
    let legend_h = legend.as_ref().map_or(0, |l| l.height);
    // Steps and epochs (whole x values) get whole-number ticks only: no "update 1.5".
    let whole_x = all().all(|p| p.0.fract() == 0.0);
    let mut x_ticks = ticks(f64::from(size.0) - 100.0, 70.0, 8);
    if whole_x {
        x_ticks = x_ticks.min((x1 - x0).floor() as usize + 1).max(2);
    }
    let x_fmt = |v: &f64| if whole_x && v.fract() != 0.0 { String::new() } else { fmt_num(*v) };

    render(size, |root| {
        let body = draw_title(root, title, size)?;
        if let Some(legend) = &legend {
            legend.draw(root, TITLE_H - 4)?;
        }
        let (_, plot) = body.split_vertically(legend_h);
        let mut chart = ChartBuilder::on(&plot)
            .margin_left(MARGIN)
            .margin_right(MARGIN + 8)
            .margin_bottom(MARGIN / 2)
            .margin_top(6)
            .x_label_area_size(44)
            .y_label_area_size(y_axis_width(&[y0, y1]))
            .build_cartesian_2d(x0..x1, y0..y1)?;
        chart
            .configure_mesh()
            .house_style()
            .x_labels(x_ticks)
            .y_labels(ticks(f64::from(size.1) - f64::from(TITLE_H + legend_h) - 56.0, 40.0, 6))
            .x_desc(x_label)
            .y_desc(y_label)
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&|v| fmt_num(*v))
            .draw()?;
        for (_, colour, points) in &lines {
            if points.len() > 1 {
                chart
                    .draw_series(std::iter::once(PathElement::new(points.clone(), colour.stroke_width(2))))?;
            }
            // Dots show where the measurements are while they are sparse enough to tell apart.
            if points.len() <= 40 {
                let r = if points.len() == 1 { 4 } else { 3 };
                chart.draw_series(points.iter().map(|p| Circle::new(*p, r, colour.filled())))?;
            }
        }
        Ok(())
    })
}

/// Rejects sizes too small to hold a title and a plot.
fn check_size(size: (u32, u32)) -> Result<()> {
    if size.0 < MIN_SIZE.0 || size.1 < MIN_SIZE.1 {
        return Err(Error::invalid(format!(
            "a chart of {}×{} px is too small; it must be at least {}×{} px",
            size.0, size.1, MIN_SIZE.0, MIN_SIZE.1
        )));
    }
    Ok(())
}

/// Rejects values so far apart that their difference overflows (e.g. -1e308 and 1e308).
fn check_span(values: &[f64]) -> Result<()> {
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if (hi - lo).is_finite() || values.is_empty() {
        return Ok(());
    }
    Err(Error::invalid(format!("values from {lo:e} to {hi:e} are too far apart to chart")))
}

/// Draws on a white canvas of `size` and returns the finished SVG document.
fn render(size: (u32, u32), draw: impl FnOnce(&Area<'_>) -> Drawn) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(draw_error)?;
        draw(&root).map_err(draw_error)?;
        root.present().map_err(draw_error)?;
    }
    svg.truncate(svg.trim_end().len());
    Ok(svg)
}

fn draw_error(e: DrawingAreaErrorKind<std::io::Error>) -> Error {
    Error::invalid(format!("could not draw the chart: {e}"))
}

/// The chart for empty input: the title and "No data yet" in the middle.
fn no_data(title: &str, size: (u32, u32)) -> Result<String> {
    render(size, |root| {
        draw_title(root, title, size)?;
        let centre = (size.0 as i32 / 2, (size.1 as i32 + TITLE_H) / 2);
        root.draw(&Text::new(NO_DATA, centre, text(14.0, MUTED).pos(Pos::new(HPos::Center, VPos::Center))))
    })
}

/// Draws the title centred in the top band and returns the area below it.
fn draw_title<'a>(root: &Area<'a>, title: &str, size: (u32, u32)) -> Drawn<Area<'a>> {
    let room = f64::from(size.0) - 2.0 * f64::from(MARGIN);
    let title = ellipsize(title, room, TITLE_PX);
    let style = text(TITLE_PX, INK).pos(Pos::new(HPos::Center, VPos::Center));
    root.draw(&Text::new(title, (size.0 as i32 / 2, TITLE_H / 2 + 2), style))?;
    Ok(root.split_vertically(TITLE_H).1)
}

/// A text style of `px` CSS pixels (plotters writes `font-size` as its size / 1.24).
fn text(px: f64, colour: RGBColor) -> TextStyle<'static> {
    TextStyle { font: (FONT, px * 1.24).into_font(), color: colour.to_backend_color(), pos: Pos::default() }
}

/// Estimated width in pixels of `s` at `px`.
fn text_width(s: &str, px: f64) -> f64 {
    s.chars().count() as f64 * px * CHAR_EM
}

/// `s` shortened with an ellipsis so that it fits in `room` pixels at `px` (keeping at least one
/// character).
fn ellipsize(s: &str, room: f64, px: f64) -> String {
    let fits = (room / (px * CHAR_EM)).floor().max(2.0) as usize;
    if s.chars().count() <= fits {
        return s.to_string();
    }
    let mut short: String = s.chars().take(fits - 1).collect();
    short.truncate(short.trim_end().len());
    short.push('…');
    short
}

/// A short, readable number: up to 4 significant decimals, trailing zeros dropped, `k`/`M` for large
/// magnitudes.
fn fmt_num(v: f64) -> String {
    fn trim(s: String) -> String {
        let s = if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s };
        if s == "-0" { "0".to_string() } else { s }
    }
    let a = v.abs();
    if a >= 1e6 {
        trim(format!("{:.2}", v / 1e6)) + "M"
    } else if a >= 1e4 {
        trim(format!("{:.2}", v / 1e3)) + "k"
    } else if a >= 100.0 {
        trim(format!("{v:.1}"))
    } else if a >= 1.0 {
        trim(format!("{v:.3}"))
    } else {
        trim(format!("{v:.4}"))
    }
}

/// How many tick labels an axis `pixels` long gets: one per `spacing` pixels, 2 to `most`.
fn ticks(pixels: f64, spacing: f64, most: usize) -> usize {
    ((pixels / spacing) as usize).clamp(2, most)
}

/// Room for the y tick labels and the rotated axis title, from the widest of the range's ends.
fn y_axis_width(ends: &[f64]) -> i32 {
    let widest = ends.iter().map(|v| text_width(&fmt_num(*v), TICK_PX)).fold(0.0, f64::max);
    (widest + 34.0).ceil() as i32
}

/// The range of `values` widened by `pad` of its span on both sides; a single value gets 10 % of
/// itself (or 1 for zero) either side so it sits in the middle.
fn pad_range(values: impl Iterator<Item = f64>, pad: f64) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo == hi {
        let d = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        return (lo - d, hi + d);
    }
    let d = (hi - lo) * pad;
    (lo - d, hi + d)
}

/// The colour of the heatmap at `t` in 0..=1, interpolated along [`BLUES`].
fn blue(t: f64) -> RGBColor {
    let t = t.clamp(0.0, 1.0) * (BLUES.len() - 1) as f64;
    let i = (t.floor() as usize).min(BLUES.len() - 2);
    let f = t - i as f64;
    let mix = |a: u8, b: u8| (f64::from(a) + (f64::from(b) - f64::from(a)) * f).round() as u8;
    let (a, b) = (BLUES[i], BLUES[i + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Relative luminance of a colour, 0 (black) to 1 (white).
fn luminance(c: RGBColor) -> f64 {
    (0.2126 * f64::from(c.0) + 0.7152 * f64::from(c.1) + 0.0722 * f64::from(c.2)) / 255.0
}

/// Equal-width histogram bins with round edges.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Bins {
    start: f64,
    width: f64,
    count: usize,
}

impl Bins {
    /// At most `target` bins covering `values` (finite, not empty). The width is 1, 2, 2.5 or 5 times
    /// a power of ten, and a whole number when all values are whole.
    fn new(values: &[f64], target: usize) -> Bins {
        let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let whole = values.iter().all(|v| v.fract() == 0.0);
        let raw = (hi - lo) / target as f64;
        let mut width = if raw > 0.0 { nice_step(raw) } else { 1.0 };
        loop {
            if whole {
                // 2.5 × 10^k is whole only from 25 up; a whole step keeps every edge whole.
                width = if width < 1.0 {
                    1.0
                } else if width.fract() != 0.0 {
                    width * 2.0
                } else {
                    width
                };
            }
            let (start, count) = if whole && width == 1.0 {
                // One bin per whole number, centred on it, so the ticks name the bars.
                (lo - 0.5, (hi - lo) as usize + 1)
            } else {
                let start = (lo / width + EPS).floor() * width;
                (start, ((hi - start) / width - EPS).ceil().max(1.0) as usize)
            };
            // Rounding the start down can add a bin; widen until the target holds.
            if count <= target {
                return Bins { start, width, count };
            }
            width = nice_step(width * 1.000_001);
        }
    }

    /// The left edge of bin `i` (`edge(count)` is the right end).
    fn edge(&self, i: usize) -> f64 {
        self.start + i as f64 * self.width
    }

    /// Rows per bin; the top edge belongs to the last bin.
    fn count(&self, values: &[f64]) -> Vec<u32> {
        let mut counts = vec![0u32; self.count];
        for v in values {
            let i = ((v - self.start) / self.width + EPS).floor().max(0.0) as usize;
            counts[i.min(self.count - 1)] += 1;
        }
        counts
    }
}

/// The smallest of 1, 2, 2.5, 5 × 10^k that is at least `raw` (> 0).
fn nice_step(raw: f64) -> f64 {
    let p = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * p).find(|s| *s >= raw * (1.0 - 1e-9)).unwrap_or(10.0 * p)
}

/// How category labels sit under a row of slots: across when they fit, upright when they do not.
#[derive(Debug, Clone, PartialEq)]
struct CategoryLabels {
    px: f64,
    upright: bool,
    /// Longest label in pixels.
    room: f64,
    /// Every `step`-th label is drawn (1 unless slots are narrower than a line of text).
    step: usize,
    /// Height of the label band under the axis.
    height: i32,
}

impl CategoryLabels {
    /// Fits `labels` under slots `slot` pixels wide, upright labels taking at most `max_h` pixels.
    fn fit(labels: &[&str], slot: f64, max_h: f64) -> CategoryLabels {
        let longest = labels.iter().map(|l| text_width(l, TICK_PX)).fold(0.0, f64::max);
        // Across when everything fits, or when slots are wide enough for a long prefix; otherwise
        // upright, where there is room for whole names.
        if longest <= slot - 6.0 || slot >= 14.0 * TICK_PX * CHAR_EM + 6.0 {
            return CategoryLabels { px: TICK_PX, upright: false, room: slot - 6.0, step: 1, height: 28 };
        }
        let px = (slot * 0.85).clamp(8.0, TICK_PX);
        let step = (px / (slot * 0.85)).ceil().max(1.0) as usize;
        let room = labels.iter().map(|l| text_width(l, px)).fold(0.0, f64::max).min(max_h);
        CategoryLabels { px, upright: true, room, step, height: room.ceil() as i32 + 12 }
    }

    /// Draws `labels` centred on the x pixel `centres`, hanging from pixel row `top`.
    fn draw(&self, root: &Area<'_>, labels: &[&str], centres: &[i32], top: i32) -> Drawn {
        for (i, (label, x)) in labels.iter().zip(centres).enumerate() {
            if i % self.step != 0 {
                continue;
            }
            let label = ellipsize(label, self.room, self.px);
            let style = if self.upright {
                text(self.px, INK)
                    .pos(Pos::new(HPos::Right, VPos::Center))
                    .transform(FontTransform::Rotate270)
            } else {
                text(self.px, INK).pos(Pos::new(HPos::Center, VPos::Top))
            };
            root.draw(&Text::new(label, (*x, top), style))?;
        }
        Ok(())
    }
}

/// A row of legend entries (a short line in the series colour, then its name), centred and wrapped
/// over as many rows as the width needs.
#[derive(Debug, Clone, PartialEq)]
struct Legend {
    /// Entries per row: name, colour and width in pixels.
    rows: Vec<Vec<(String, RGBColor, i32)>>,
    width: u32,
    height: i32,
}

impl Legend {
    const ROW_H: i32 = 18;
    const SWATCH: i32 = 18;
    const GAP: i32 = 18;

    fn new(entries: &[(&str, RGBColor)], width: u32) -> Legend {
        let room = f64::from(width) - 2.0 * f64::from(MARGIN);
        let mut rows: Vec<Vec<(String, RGBColor, i32)>> = vec![vec![]];
        let mut used = 0;
        for (name, colour) in entries {
            let name = ellipsize(
                name,
                ((room - f64::from(Self::GAP)) / 2.0 - f64::from(Self::SWATCH + 6)).min(220.0),
                TICK_PX,
            );
            let w = Self::SWATCH + 6 + text_width(&name, TICK_PX).ceil() as i32;
            let row = rows.last_mut().expect("there is always a row");
            if !row.is_empty() && f64::from(used + Self::GAP + w) > room {
                rows.push(vec![(name, *colour, w)]);
                used = w;
            } else {
                used += if row.is_empty() { w } else { Self::GAP + w };
                row.push((name, *colour, w));
            }
        }
        let height = rows.len() as i32 * Self::ROW_H + 4;
        Legend { rows, width, height }
    }

    /// Draws the legend with its first row's top at pixel row `top`.
    fn draw(&self, root: &Area<'_>, top: i32) -> Drawn {
        for (r, row) in self.rows.iter().enumerate() {
            let total: i32 = row.iter().map(|e| e.2).sum::<i32>() + Self::GAP * (row.len() as i32 - 1);
            let mut x = (self.width as i32 - total) / 2;
            let y = top + r as i32 * Self::ROW_H + Self::ROW_H / 2;
            for (name, colour, w) in row {
                root.draw(&PathElement::new(vec![(x, y), (x + Self::SWATCH, y)], colour.stroke_width(3)))?;
                let style = text(TICK_PX, INK).pos(Pos::new(HPos::Left, VPos::Center));
                root.draw(&Text::new(name.clone(), (x + Self::SWATCH + 6, y), style))?;
                x += w + Self::GAP;
            }
        }
        Ok(())
    }
}

/// Pixel layout of a confusion matrix: the grid, class names left and below, axis titles, and a
/// colour key on the right.
#[derive(Debug, Clone, PartialEq)]
struct MatrixLayout {
    n: usize,
    /// Top-left corner of the grid and the side of a cell, in pixels.
    x0: f64,
    y0: f64,
    cell: f64,
    /// Class name font size and the longest row / column name in pixels.
    label_px: f64,
    row_room: f64,
    col: CategoryLabels,
    /// Left edge of the "true" axis title band.
    title_x: f64,
}

impl MatrixLayout {
    const AXIS_TITLE: f64 = 20.0;
    const KEY_W: f64 = 52.0;

    fn new(classes: &[String], size: (u32, u32)) -> MatrixLayout {
        let n = classes.len();
        let names: Vec<&str> = classes.iter().map(String::as_str).collect();
        let (w, h) = (f64::from(size.0), f64::from(size.1));
        let m = f64::from(MARGIN);
        let avail_w = w - 2.0 * m - Self::AXIS_TITLE - Self::KEY_W;
        let avail_h = h - f64::from(TITLE_H) - m - Self::AXIS_TITLE;
        // Names get smaller with the cells, so rows never crowd into each other.
        let label_px = (avail_h / n as f64 * 0.6).clamp(8.0, LABEL_PX);
        let longest = names.iter().map(|c| text_width(c, label_px)).fold(0.0, f64::max);
        let row_room = longest.min(avail_w * 0.3).max(label_px * 2.0);
        let grid_w = avail_w - row_room - 8.0;
        // First guess: column names across, one text line tall; turn them upright if they do not fit.
        let mut cell = (grid_w / n as f64).min((avail_h - (label_px + 12.0)) / n as f64);
        let mut col = CategoryLabels::fit(&names, cell, avail_h * 0.3);
        col.px = col.px.min(label_px);
        if col.upright {
            col.room = names.iter().map(|c| text_width(c, col.px)).fold(0.0, f64::max).min(avail_h * 0.3);
            col.height = col.room.ceil() as i32 + 12;
            cell = (grid_w / n as f64).min((avail_h - f64::from(col.height)) / n as f64);
        } else {
            col.px = label_px;
            col.room = cell - 4.0;
            col.height = (label_px + 12.0).ceil() as i32;
        }
        let cell = cell.max(1.0);
        // Centre the whole block (axis titles, names, grid) in the space below the title.
        let side = cell * n as f64;
        let block = Self::AXIS_TITLE + row_room + 8.0 + side;
        let left = m + ((w - 2.0 * m - Self::KEY_W - block) / 2.0).max(0.0);
        let top = f64::from(TITLE_H) + 4.0 + ((avail_h - 4.0 - side - f64::from(col.height)) / 2.0).max(0.0);
        MatrixLayout {
            n,
            x0: left + Self::AXIS_TITLE + row_room + 8.0,
            y0: top,
            cell,
            label_px,
            row_room,
            col,
            title_x: left,
        }
    }

    fn draw(&self, root: &Area<'_>, classes: &[String], matrix: &[Vec<usize>]) -> Drawn {
        let (n, c) = (self.n, self.cell);
        let px = |v: f64| v.round() as i32;
        let side = c * n as f64;
        // Counts shrink with the cells and with their number of digits.
        let digits = matrix.iter().flatten().map(|v| v.to_string().len()).max().unwrap_or(1) as f64;
        let count_px = (c * 0.4).min(c * 0.85 / (digits * DIGIT_EM)).min(13.0);

        for (t, row) in matrix.iter().enumerate() {
            let total: usize = row.iter().sum();
            for (p, &count) in row.iter().enumerate() {
                let share = if total == 0 { 0.0 } else { count as f64 / total as f64 };
                let fill = blue(share);
                let (x, y) = (self.x0 + p as f64 * c, self.y0 + t as f64 * c);
                let corner = (px(x), px(y));
                let far = (px(x + c), px(y + c));
                root.draw(&Rectangle::new([corner, far], fill.filled()))?;
                if c >= 6.0 {
                    root.draw(&Rectangle::new([corner, far], WHITE.stroke_width(1)))?;
                }
                if count_px >= 6.0 {
                    let ink = if luminance(fill) < 0.55 { WHITE } else { INK };
                    let style = text(count_px, ink).pos(Pos::new(HPos::Center, VPos::Center));
                    root.draw(&Text::new(count.to_string(), (px(x + c / 2.0), px(y + c / 2.0)), style))?;
                }
            }
        }
        root.draw(&Rectangle::new(
            [(px(self.x0), px(self.y0)), (px(self.x0 + side), px(self.y0 + side))],
            AXIS.stroke_width(1),
        ))?;

        // Class names: true classes left of their row, predicted classes under their column.
        let names: Vec<&str> = classes.iter().map(String::as_str).collect();
        // With more classes than lines of text fit, every `step`-th name.
        let step = (self.label_px / c).ceil().max(1.0) as usize;
        for (i, name) in names.iter().enumerate().step_by(step) {
            let label = ellipsize(name, self.row_room, self.label_px);
            let style = text(self.label_px, INK).pos(Pos::new(HPos::Right, VPos::Center));
            root.draw(&Text::new(label, (px(self.x0 - 6.0), px(self.y0 + (i as f64 + 0.5) * c)), style))?;
        }
        let centres: Vec<i32> = (0..n).map(|i| px(self.x0 + (i as f64 + 0.5) * c)).collect();
        self.col.draw(root, &names, &centres, px(self.y0 + side + 6.0))?;

        // Axis titles.
        let axis = text(LABEL_PX, MUTED);
        let mid_y = px(self.y0 + side / 2.0);
        root.draw(&Text::new(
            "true",
            (px(self.title_x + 8.0), mid_y),
            axis.pos(Pos::new(HPos::Center, VPos::Center)).transform(FontTransform::Rotate270),
        ))?;
        let below = self.y0 + side + 6.0 + f64::from(self.col.height);
        root.draw(&Text::new(
            "predicted",
            (px(self.x0 + side / 2.0), px(below)),
            axis.pos(Pos::new(HPos::Center, VPos::Top)),
        ))?;

        // Colour key: the share of the true class's rows, 0 at the bottom to 100 % at the top.
        let key_x = self.x0 + side + 16.0;
        let key_h = side.min(180.0);
        let steps = 24;
        for s in 0..steps {
            let (a, b) = (s as f64 / steps as f64, (s + 1) as f64 / steps as f64);
            let y = |t: f64| px(self.y0 + key_h * (1.0 - t));
            root.draw(&Rectangle::new([(px(key_x), y(b)), (px(key_x + 10.0), y(a))], blue(a).filled()))?;
        }
        root.draw(&Rectangle::new(
            [(px(key_x), px(self.y0)), (px(key_x + 10.0), px(self.y0 + key_h))],
            AXIS.stroke_width(1),
        ))?;
        let tick = text(TICK_PX - 1.0, MUTED).pos(Pos::new(HPos::Left, VPos::Center));
        root.draw(&Text::new("100%", (px(key_x + 14.0), px(self.y0 + 4.0)), tick.clone()))?;
        root.draw(&Text::new("0%", (px(key_x + 14.0), px(self.y0 + key_h - 4.0)), tick.clone()))?;
        if key_h >= 90.0 {
            root.draw(&Text::new("of row", (px(key_x + 14.0), px(self.y0 + key_h / 2.0)), tick))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIZE: (u32, u32) = (640, 420);

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("class_{i}")).collect()
    }

    fn bars() -> Vec<(String, f64)> {
        vec![("positive".into(), 120.0), ("negative".into(), 95.0), ("neutral".into(), 41.0)]
    }

    fn lengths() -> Vec<f64> {
        (0..300).map(|i| f64::from((i * 37) % 180 + 5)).collect()
    }

    fn matrix(n: usize) -> Vec<Vec<usize>> {
        (0..n).map(|t| (0..n).map(|p| if t == p { 50 + t } else { (t * 7 + p * 3) % 9 }).collect()).collect()
    }

    fn training() -> Vec<Series> {
        vec![
            Series {
                name: "train loss".into(),
                points: (0..20).map(|i| (f64::from(i * 50), 1.0 / f64::from(i + 1))).collect(),
            },
            Series {
                name: "dev accuracy".into(),
                points: (0..20).map(|i| (f64::from(i * 50), 0.5 + f64::from(i) / 45.0)).collect(),
            },
        ]
    }

    /// Start and end tags balance (a small well-formedness check that needs no XML parser).
    fn assert_well_formed(svg: &str) {
        assert!(svg.starts_with("<svg"), "starts with {:?}", &svg[..svg.len().min(40)]);
        assert!(svg.ends_with("</svg>"), "ends with {:?}", &svg[svg.len().saturating_sub(40)..]);
        let mut open = vec![];
        let mut rest = svg;
        while let Some(at) = rest.find('<') {
            let end = rest[at..].find('>').expect("every tag closes") + at;
            let tag = &rest[at + 1..end];
            let name: String =
                tag.trim_start_matches('/').chars().take_while(|c| c.is_alphanumeric()).collect();
            if tag.starts_with('/') {
                assert_eq!(open.pop().as_deref(), Some(name.as_str()), "unbalanced </{name}>");
            } else if !tag.ends_with('/') {
                open.push(name);
            }
            rest = &rest[end + 1..];
        }
        assert!(open.is_empty(), "unclosed tags {open:?}");
    }

    /// Whether the SVG has a `<text>` element saying exactly `t`.
    fn has_text(svg: &str, t: &str) -> bool {
        svg.contains(&format!(">\n{t}\n</text>"))
    }

    type Chart = fn() -> Result<String>;

    #[test]
    fn typical_input_draws_well_formed_svg_with_its_texts() {
        let cases: [(&str, Chart, &[&str]); 4] = [
            (
                "bar",
                || bar_chart("Labels", &bars(), "rows", SIZE),
                &["Labels", "positive", "neutral", "120", "rows"],
            ),
            (
                "histogram",
                || histogram("Text length", &lengths(), 20, "tokens", SIZE),
                &["Text length", "tokens", "rows", "100"],
            ),
            (
                "matrix",
                || confusion_matrix("Dev set", &names(3), &matrix(3), SIZE),
                &["Dev set", "class_0", "class_2", "true", "predicted", "52"],
            ),
            (
                "line",
                || line_chart("Training", &training(), "step", "value", SIZE),
                &["Training", "train loss", "dev accuracy", "step", "400"],
            ),
        ];
        for (name, chart, texts) in cases {
            let svg = chart().unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_well_formed(&svg);
            for t in texts {
                assert!(has_text(&svg, t), "{name}: no text {t:?} in the SVG");
            }
            assert!(!svg.contains(NO_DATA), "{name}");
        }
    }

    #[test]
    fn empty_input_says_no_data_yet() {
        let cases: [(&str, Chart); 6] = [
            ("bar", || bar_chart("Labels", &[], "rows", SIZE)),
            ("bar, only NaN", || bar_chart("Labels", &[("a".into(), f64::NAN)], "rows", SIZE)),
            ("histogram", || histogram("Lengths", &[], 10, "tokens", SIZE)),
            ("histogram, only inf", || histogram("Lengths", &[f64::INFINITY, f64::NAN], 10, "tokens", SIZE)),
            ("matrix", || confusion_matrix("Dev", &[], &[], SIZE)),
            ("line", || {
                line_chart("Loss", &[Series { name: "loss".into(), points: vec![] }], "step", "loss", SIZE)
            }),
        ];
        for (name, chart) in cases {
            let svg = chart().unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_well_formed(&svg);
            assert!(has_text(&svg, NO_DATA), "{name}");
        }
        let svg = line_chart("Loss", &[], "step", "loss", SIZE).unwrap();
        assert!(has_text(&svg, NO_DATA) && has_text(&svg, "Loss"));
    }

    #[test]
    fn bad_matrix_shapes_are_errors_naming_the_shapes() {
        type Case = (&'static str, Vec<String>, Vec<Vec<usize>>, &'static str);
        let cases: [Case; 4] = [
            ("too few rows", names(3), matrix(2), "has 2 rows but there are 3 classes; it must be 3×3"),
            ("too many rows", names(2), matrix(3), "has 3 rows but there are 2 classes; it must be 2×2"),
            ("short row", names(2), vec![vec![1, 2], vec![3]], "row 1 of the confusion matrix has 1 columns"),
            ("rows, no classes", vec![], vec![vec![]], "has 1 rows but there are 0 classes"),
        ];
        for (name, classes, m, expected) in cases {
            let err = confusion_matrix("Dev", &classes, &m, SIZE).expect_err(name).to_string();
            assert!(err.contains(expected), "{name}: {err}");
        }
    }

    #[test]
    fn bad_arguments_are_errors() {
        let cases: [(&str, Chart, &str); 5] = [
            ("zero bins", || histogram("L", &[1.0], 0, "tokens", SIZE), "at least 1 bin"),
            ("tiny", || bar_chart("L", &bars(), "rows", (100, 50)), "100×50 px is too small"),
            ("zero size", || line_chart("L", &training(), "x", "y", (0, 0)), "too small"),
            ("huge span", || histogram("L", &[-1e308, 1e308], 10, "x", SIZE), "too far apart"),
            (
                "huge line",
                || {
                    line_chart(
                        "L",
                        &[Series { name: "a".into(), points: vec![(0.0, -1e308), (1.0, 1e308)] }],
                        "x",
                        "y",
                        SIZE,
                    )
                },
                "too far apart",
            ),
        ];
        for (name, chart, expected) in cases {
            let err = chart().expect_err(name).to_string();
            assert!(err.contains(expected), "{name}: {err}");
        }
    }

    #[test]
    fn output_is_deterministic() {
        let cases: [Chart; 4] = [
            || bar_chart("Labels", &bars(), "rows", SIZE),
            || histogram("Lengths", &lengths(), 12, "tokens", SIZE),
            || confusion_matrix("Dev", &names(12), &matrix(12), SIZE),
            || line_chart("Training", &training(), "step", "value", SIZE),
        ];
        for chart in cases {
            assert_eq!(chart().unwrap(), chart().unwrap());
        }
    }

    #[test]
    fn non_finite_values_are_skipped() {
        let mut with_nan = bars();
        with_nan.insert(1, ("broken".into(), f64::NAN));
        with_nan.push(("huge".into(), f64::INFINITY));
        assert_eq!(
            bar_chart("Labels", &with_nan, "rows", SIZE).unwrap(),
            bar_chart("Labels", &bars(), "rows", SIZE).unwrap()
        );

        let mut values = lengths();
        values.extend([f64::NAN, f64::NEG_INFINITY, f64::INFINITY]);
        assert_eq!(
            histogram("L", &values, 10, "tokens", SIZE).unwrap(),
            histogram("L", &lengths(), 10, "tokens", SIZE).unwrap()
        );

        let mut series = training();
        series[0].points.insert(3, (f64::NAN, 1.0));
        series[1].points.push((2000.0, f64::INFINITY));
        assert_eq!(
            line_chart("T", &series, "s", "v", SIZE).unwrap(),
            line_chart("T", &training(), "s", "v", SIZE).unwrap()
        );
    }

    #[test]
    fn edge_inputs_draw_without_error() {
        let long = "a label far too long to fit under its bar in any reasonable chart".to_string();
        let many: Vec<(String, f64)> =
            (0..60).map(|i| (format!("category number {i}"), f64::from(i))).collect();
        let cases: [(&str, Chart); 12] = [
            ("one bar", || bar_chart("One", &[("only".into(), 3.0)], "rows", SIZE)),
            ("all zero", || bar_chart("Zero", &[("a".into(), 0.0), ("b".into(), 0.0)], "rows", SIZE)),
            ("negative", || bar_chart("Neg", &[("a".into(), -2.5), ("b".into(), 4.0)], "delta", SIZE)),
            ("one value", || histogram("One", &[7.0], 10, "tokens", SIZE)),
            ("fractions", || histogram("Conf", &[0.12, 0.5, 0.51, 0.93], 10, "confidence", SIZE)),
            ("one class", || confusion_matrix("One", &names(1), &[vec![4]], SIZE)),
            ("twenty classes", || confusion_matrix("Twenty", &names(20), &matrix(20), SIZE)),
            ("200 classes", || confusion_matrix("Many", &names(200), &matrix(200), SIZE)),
            ("a billion bins", || histogram("Bins", &[0.0, 1e9], 1_000_000_000, "x", SIZE)),
            ("single point", || {
                line_chart("P", &[Series { name: "acc".into(), points: vec![(1.0, 0.5)] }], "s", "v", SIZE)
            }),
            ("smallest size", || confusion_matrix("Small", &names(20), &matrix(20), MIN_SIZE)),
            ("smallest line", || line_chart("Small", &training(), "step", "value", MIN_SIZE)),
        ];
        for (name, chart) in cases {
            assert_well_formed(&chart().unwrap_or_else(|e| panic!("{name}: {e}")));
        }
        for bars in [vec![(long, 5.0)], many] {
            assert_well_formed(&bar_chart("Long", &bars, "rows", SIZE).unwrap());
            assert_well_formed(&bar_chart("Long", &bars, "rows", MIN_SIZE).unwrap());
        }
    }

    /// Update numbers are whole: two updates give ticks 1 and 2, never 1.2 or 1.5.
    #[test]
    fn whole_x_values_get_whole_ticks() {
        type Case = (Vec<(f64, f64)>, &'static [&'static str], &'static [&'static str]);
        let cases: [Case; 3] = [
            (vec![(1.0, 0.5), (2.0, 0.4)], &["1", "2"], &["1.2", "1.5"]),
            (vec![(1.0, 0.5), (3.0, 0.4), (4.0, 0.3)], &["1", "4"], &["1.5", "2.5"]),
            (vec![(0.5, 0.5), (1.5, 0.4)], &[], &[]),
        ];
        for (points, present, absent) in cases {
            let svg =
                line_chart("Loss", &[Series { name: "training".into(), points }], "update", "loss", SIZE)
                    .unwrap();
            assert_well_formed(&svg);
            for p in present {
                assert!(has_text(&svg, p), "tick {p} missing");
            }
            for a in absent {
                assert!(!has_text(&svg, a), "tick {a} drawn");
            }
        }
    }

    #[test]
    fn text_is_escaped() {
        let classes = vec!["<b>".to_string(), "R&D".to_string()];
        let svg = confusion_matrix("a < b & c", &classes, &[vec![1, 0], vec![0, 1]], SIZE).unwrap();
        assert_well_formed(&svg);
        assert!(svg.contains("R&amp;D") && svg.contains("&lt;b&gt;") && svg.contains("a &lt; b &amp; c"));
    }

    #[test]
    fn histogram_bins_have_round_edges() {
        // (values, target bins, expected start, width, count)
        let cases: [(&[f64], usize, f64, f64, usize); 8] = [
            (&[5.0, 184.0], 20, 0.0, 10.0, 19),
            (&[1.0, 2.0, 3.0], 10, 0.5, 1.0, 3),
            (&[1.0, 2.0, 3.0, 4.0], 2, 0.0, 2.0, 2),
            (&[7.0], 10, 6.5, 1.0, 1),
            (&[0.3, 0.4, 1.0], 7, 0.3, 0.1, 7),
            (&[0.12, 0.93], 10, 0.1, 0.1, 9),
            (&[0.0, 100.0], 10, 0.0, 10.0, 10),
            (&[3.0, 1003.0], 4, 0.0, 500.0, 3),
        ];
        for (values, target, start, width, count) in cases {
            let b = Bins::new(values, target);
            assert!((b.start - start).abs() < 1e-9 && (b.width - width).abs() < 1e-9, "{values:?}: {b:?}");
            assert_eq!(b.count, count, "{values:?}: {b:?}");
            assert!(b.count <= target, "{values:?}: {b:?}");
            assert_eq!(b.count(values).iter().sum::<u32>() as usize, values.len(), "{values:?}");
        }
    }

    #[test]
    fn helpers() {
        let nums = [
            (0.0, "0"),
            (-0.0, "0"),
            (0.25, "0.25"),
            (1.5, "1.5"),
            (120.0, "120"),
            (1234.56, "1234.6"),
            (25_000.0, "25k"),
            (2_500_000.0, "2.5M"),
            (0.00012, "0.0001"),
        ];
        for (v, s) in nums {
            assert_eq!(fmt_num(v), s, "{v}");
        }
        let shorts =
            [("short", 100.0, "short"), ("a rather long label", 60.0, "a rather…"), ("abc", 1.0, "a…")];
        for (s, room, expected) in shorts {
            assert_eq!(ellipsize(s, room, 10.0), expected, "{s}");
        }
        assert_eq!(blue(0.0), RGBColor(0xf7, 0xfb, 0xff));
        assert_eq!(blue(1.0), RGBColor(0x08, 0x30, 0x6b));
        assert!(luminance(blue(1.0)) < 0.55 && luminance(blue(0.0)) > 0.55);
    }
}
