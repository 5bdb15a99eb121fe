//! The floor benchmark's output: the SVG chart and its section of BENCHMARKS.md.

use super::*;

/// A grouped bar chart of p50 (bars) and p99 (ticks), gateway against floor, in SVG.
pub fn chart(rows: &[(&str, [f64; 4])]) -> String {
    let (width, height, left, bottom, top) = (720.0, 360.0, 60.0, 40.0, 40.0);
    let max = rows.iter().flat_map(|(_, v)| [v[1], v[3]]).fold(0.0f64, f64::max).max(1.0) * 1.1;
    let plot_h = height - bottom - top;
    let y = |ms: f64| top + plot_h - ms / max * plot_h;
    let group = (width - left - 20.0) / rows.len() as f64;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\
         <text x=\"{left}\" y=\"20\" font-size=\"14\">Gateway vs DynamoDB floor (DynamoDB Local): p50 bars, p99 ticks, ms</text>"
    );
    for t in 0..=4 {
        let ms = max * f64::from(t) / 4.0;
        svg += &format!(
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{ms:.1}</text>",
            width - 20.0,
            left - 6.0,
            y(ms) + 4.0,
            y = y(ms)
        );
    }
    for (i, (name, v)) in rows.iter().enumerate() {
        let x0 = left + group * i as f64 + group * 0.15;
        let bar = group * 0.3;
        for (j, (p50, p99, color)) in [(v[0], v[1], "#d9480f"), (v[2], v[3], "#1c7ed6")].into_iter().enumerate() {
            let x = x0 + bar * j as f64;
            svg += &format!(
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{color}\"/>\
                 <line x1=\"{x:.1}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"black\" stroke-width=\"2\"/>",
                y(p50),
                bar - 4.0,
                y(0.0) - y(p50),
                x + bar - 4.0,
                y(p99),
                y(p99)
            );
        }
        svg += &format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{name}</text>",
            x0 + bar,
            height - bottom + 16.0
        );
    }
    svg += &format!(
        "<rect x=\"{}\" y=\"30\" width=\"10\" height=\"10\" fill=\"#d9480f\"/><text x=\"{}\" y=\"39\">gateway</text>\
         <rect x=\"{}\" y=\"30\" width=\"10\" height=\"10\" fill=\"#1c7ed6\"/><text x=\"{}\" y=\"39\">floor (bare SDK calls)</text></svg>\n",
        width - 260.0,
        width - 245.0,
        width - 180.0,
        width - 165.0
    );
    svg
}

pub fn write_section(section: &str) -> Result<(), Error> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("BENCHMARKS.md");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|_| "# Benchmarks\n".into());
    let (begin, end) = ("<!-- floor:begin -->", "<!-- floor:end -->");
    let block = format!("{begin}\n{section}{end}");
    let text = match (text.find(begin), text.find(end)) {
        (Some(a), Some(b)) if b > a => format!("{}{block}{}", &text[..a], &text[b + end.len()..]),
        _ => format!("{}\n{block}\n", text.trim_end()),
    };
    std::fs::write(path, text)?;
    Ok(())
}
