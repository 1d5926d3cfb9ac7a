//! QR codes as PNG images: member cards and vouchers, for the counter to scan.

use image::{ImageFormat, Luma};
use qrcode::QrCode;

/// Renders `text` as a PNG QR code with a quiet zone, about `size` pixels wide.
pub fn png(text: &str, size: u32) -> Result<Vec<u8>, qrcode::types::QrError> {
    let code = QrCode::new(text.as_bytes())?;
    let img = code
        .render::<Luma<u8>>()
        .min_dimensions(size, size)
        .quiet_zone(true)
        .build();
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, ImageFormat::Png)
        .expect("writing a PNG to memory cannot fail");
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    #[test]
    fn renders_a_png() {
        let png = super::png("TAEM-VOUCHER-ABCDE23456", 256).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let img = image::load_from_memory(&png).unwrap();
        assert!(img.width() >= 256);
    }
}
