//! A reward's picture: what taem accepts (a JPEG or PNG of at most 1 MB, which
//! LINE's Flex hero image and Telegram's photos both take) and the name it is
//! published under (a hash of its bytes, so a new picture gets a new address
//! and any copy of the old one may be cached for ever).

use sha2::{Digest, Sha256};

/// The largest picture taem keeps.
pub const MAX_PICTURE_BYTES: usize = 1_000_000;

/// A checked picture, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picture {
    /// `<16 hex digits of its SHA-256>.<jpg|png>`.
    pub name: String,
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
}

/// Why a file is not accepted as a picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PictureProblem {
    #[error("the file is empty")]
    Empty,
    #[error("the picture is larger than 1 MB")]
    TooLarge,
    #[error("only JPEG and PNG pictures are accepted")]
    NotJpegOrPng,
}

impl Picture {
    /// Checks a file by its content (never by its name or the type a browser
    /// claims).
    pub fn check(bytes: Vec<u8>) -> Result<Picture, PictureProblem> {
        if bytes.is_empty() {
            return Err(PictureProblem::Empty);
        }
        if bytes.len() > MAX_PICTURE_BYTES {
            return Err(PictureProblem::TooLarge);
        }
        let (content_type, ext) = if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            ("image/jpeg", "jpg")
        } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            ("image/png", "png")
        } else {
            return Err(PictureProblem::NotJpegOrPng);
        };
        let hash = Sha256::digest(&bytes);
        Ok(Picture {
            name: format!("{}.{ext}", hex::encode(&hash[..8])),
            content_type,
            bytes,
        })
    }
}

/// The path a reward's picture is published at (under the public URL).
pub fn path(reward_id: i64, name: &str) -> String {
    format!("/media/rewards/{reward_id}/{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jpeg_and_png_are_named_by_their_content() {
        let jpeg = Picture::check(vec![0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3]).unwrap();
        assert_eq!(jpeg.content_type, "image/jpeg");
        assert!(jpeg.name.ends_with(".jpg") && jpeg.name.len() == 20);
        let png = Picture::check(b"\x89PNG\r\n\x1a\nrest".to_vec()).unwrap();
        assert_eq!(png.content_type, "image/png");
        let other = Picture::check(b"\x89PNG\r\n\x1a\nrest!".to_vec()).unwrap();
        assert_ne!(png.name, other.name);
    }

    #[test]
    fn other_files_empty_files_and_large_files_are_refused() {
        assert_eq!(Picture::check(vec![]), Err(PictureProblem::Empty));
        assert_eq!(
            Picture::check(b"GIF89a....".to_vec()),
            Err(PictureProblem::NotJpegOrPng)
        );
        let mut big = vec![0xFF, 0xD8, 0xFF];
        big.resize(MAX_PICTURE_BYTES + 1, 0);
        assert_eq!(Picture::check(big), Err(PictureProblem::TooLarge));
    }
}
