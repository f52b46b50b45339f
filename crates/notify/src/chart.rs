//! The hot-issue report's chart: one pair of bars per category (its daily average over the
//! baseline, and the day's count, red when it is a spike), drawn as a PNG because mail clients
//! show PNG inline and many refuse SVG. The image carries no text, so it needs no font: the
//! report's table beside it names each pair, in the same order.

use plotters::prelude::*;

use crate::NotifyError;

const WIDTH: u32 = 640;
const HEIGHT: u32 = 280;
const BASELINE: RGBColor = RGBColor(176, 190, 197);
const DAY: RGBColor = RGBColor(30, 136, 229);
const SPIKE: RGBColor = RGBColor(229, 57, 53);

/// One category's pair of bars.
#[derive(Debug, Clone, PartialEq)]
pub struct BarGroup {
    pub baseline_per_day: f64,
    pub count: f64,
    pub spike: bool,
}

/// The chart as PNG bytes; an empty list draws an empty frame.
pub fn bar_chart_png(groups: &[BarGroup]) -> Result<Vec<u8>, NotifyError> {
    let chart_error = |e: &dyn std::fmt::Display| NotifyError::Chart(e.to_string());
    let mut pixels = vec![255u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| chart_error(&e))?;
        let (left, bottom, top) = (20i32, HEIGHT as i32 - 20, 16i32);
        let plot_width = WIDTH as i32 - 2 * left;
        let highest = groups.iter().map(|g| g.count.max(g.baseline_per_day)).fold(1.0_f64, f64::max);
        let height_of = |value: f64| ((value / highest) * f64::from(bottom - top)).round() as i32;
        let slot = plot_width / i32::try_from(groups.len().max(1)).unwrap_or(1);
        let bar = (slot / 3).max(2);
        for (i, group) in groups.iter().enumerate() {
            let x = left + slot * i32::try_from(i).unwrap_or(0) + slot / 6;
            let colour = if group.spike { SPIKE } else { DAY };
            for (offset, value, fill) in [(0, group.baseline_per_day, BASELINE), (bar, group.count, colour)] {
                let height = height_of(value);
                if height > 0 {
                    root.draw(&Rectangle::new(
                        [(x + offset, bottom - height), (x + offset + bar - 1, bottom)],
                        fill.filled(),
                    ))
                    .map_err(|e| chart_error(&e))?;
                }
            }
        }
        root.draw(&PathElement::new(vec![(left, bottom), (WIDTH as i32 - left, bottom)], BLACK.stroke_width(1)))
            .map_err(|e| chart_error(&e))?;
        root.present().map_err(|e| chart_error(&e))?;
    }
    let image = image::RgbImage::from_raw(WIDTH, HEIGHT, pixels).ok_or_else(|| chart_error(&"buffer size"))?;
    let mut png = std::io::Cursor::new(Vec::new());
    image.write_to(&mut png, image::ImageFormat::Png).map_err(|e| chart_error(&e))?;
    Ok(png.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_a_png_with_a_red_bar_for_a_spike() {
        let groups = [
            BarGroup { baseline_per_day: 2.0, count: 3.0, spike: false },
            BarGroup { baseline_per_day: 1.0, count: 12.0, spike: true },
        ];
        let png = bar_chart_png(&groups).unwrap();
        let decoded = image::load_from_memory_with_format(&png, image::ImageFormat::Png).unwrap().to_rgb8();
        assert_eq!(decoded.dimensions(), (WIDTH, HEIGHT));
        let has = |c: RGBColor| decoded.pixels().any(|p| p.0 == [c.0, c.1, c.2]);
        assert!(has(SPIKE) && has(DAY) && has(BASELINE));
        let calm = bar_chart_png(&groups[..1]).unwrap();
        let calm = image::load_from_memory_with_format(&calm, image::ImageFormat::Png).unwrap().to_rgb8();
        assert!(!calm.pixels().any(|p| p.0 == [SPIKE.0, SPIKE.1, SPIKE.2]));
    }
}
