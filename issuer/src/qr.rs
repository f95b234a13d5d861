//! Credential offers as QR codes, for a wallet's camera: drawn in a terminal (the operator's
//! CLI) or written as a PNG (a web page, a printed letter). Encoding is the `qrcode` crate's
//! (error correction level M), PNG the `png` crate's; this module only lays out the modules.

/// Why a QR code could not be made.
#[derive(Debug, thiserror::Error)]
pub enum QrError {
    /// Too long for the largest QR code (an offer by value with many claims: offer by
    /// reference instead).
    #[error("the text does not fit in a QR code: {0}")]
    TooLong(qrcode::types::QrError),
    #[error("writing the PNG: {0}")]
    Png(#[from] png::EncodingError),
}

/// Light modules around the code, as the QR specification asks (4).
const QUIET_ZONE: usize = 4;

fn encode(text: &str) -> Result<qrcode::QrCode, QrError> {
    qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M)
        .map_err(QrError::TooLong)
}

/// The code drawn with Unicode half blocks, two module rows per line, dark on light (so it
/// scans on dark terminals too), with its quiet zone.
pub fn terminal(text: &str) -> Result<String, QrError> {
    Ok(encode(text)?
        .render::<qrcode::render::unicode::Dense1x2>()
        .dark_color(qrcode::render::unicode::Dense1x2::Light)
        .light_color(qrcode::render::unicode::Dense1x2::Dark)
        .quiet_zone(true)
        .build())
}

/// The code as a greyscale PNG, `scale` pixels per module, with its quiet zone.
pub fn png(text: &str, scale: u32) -> Result<Vec<u8>, QrError> {
    let code = encode(text)?;
    let width = code.width();
    let colors = code.to_colors();
    let scale = scale.clamp(1, 64) as usize;
    let side = (width + 2 * QUIET_ZONE) * scale;
    let mut pixels = vec![255u8; side * side];
    for (i, color) in colors.iter().enumerate() {
        if *color != qrcode::Color::Dark {
            continue;
        }
        let (x, y) = (
            (i % width + QUIET_ZONE) * scale,
            (i / width + QUIET_ZONE) * scale,
        );
        for row in y..y + scale {
            pixels[row * side + x..row * side + x + scale].fill(0);
        }
    }
    let side =
        u32::try_from(side).map_err(|_| QrError::TooLong(qrcode::types::QrError::DataTooLong))?;
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, side, side);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&pixels)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_has_the_code_dark_where_the_encoder_says() {
        let text =
            "openid-credential-offer://?credential_offer_uri=https%3A%2F%2Fa.example%2Fo%2F1";
        let bytes = png(text, 3).unwrap();
        let decoder = png::Decoder::new(std::io::Cursor::new(&bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut pixels).unwrap();
        let code = encode(text).unwrap();
        let side = (code.width() + 2 * QUIET_ZONE) * 3;
        assert_eq!((info.width as usize, info.height as usize), (side, side));
        // Every module's centre pixel has the module's colour; the quiet zone is light.
        for (i, color) in code.to_colors().iter().enumerate() {
            let (x, y) = (
                (i % code.width() + QUIET_ZONE) * 3 + 1,
                (i / code.width() + QUIET_ZONE) * 3 + 1,
            );
            let expected = if *color == qrcode::Color::Dark {
                0
            } else {
                255
            };
            assert_eq!(pixels[y * side + x], expected, "module {i}");
        }
        assert!(pixels[..side * QUIET_ZONE * 3].iter().all(|p| *p == 255));
    }

    #[test]
    fn terminal_rendering_is_two_rows_per_line_with_quiet_zone() {
        let text = "openid-credential-offer://?credential_offer_uri=x";
        let drawn = terminal(text).unwrap();
        let width = encode(text).unwrap().width() + 2 * QUIET_ZONE;
        assert_eq!(drawn.lines().count(), width.div_ceil(2));
        assert!(drawn.lines().all(|l| l.chars().count() == width));
    }

    #[test]
    fn too_long_is_an_error() {
        assert!(matches!(
            terminal(&"x".repeat(8000)),
            Err(QrError::TooLong(_))
        ));
    }
}
