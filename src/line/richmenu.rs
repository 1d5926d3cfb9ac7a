//! The default rich menu: six tiles (My points, Rewards, Member card, History,
//! Promotions, Help) whose taps post the same button data as the chat's menu.
//! taem draws the image itself: flat tiles with a pictogram each (no text, so
//! no font is needed; the tap shows the tile's name in both languages).

use image::{Rgb, RgbImage};
use serde_json::{Value, json};

use crate::chat::Intent;

pub const WIDTH: u32 = 2500;
pub const HEIGHT: u32 = 1686;
const COLS: u32 = 3;
const ROWS: u32 = 2;

/// (Thai name, English name, what a tap asks for, tile colour)
pub const TILES: [(&str, &str, Intent, [u8; 3]); 6] = [
    ("แต้มของฉัน", "My points", Intent::Balance, [0x1f, 0x8a, 0x70]),
    (
        "ของรางวัล",
        "Rewards",
        Intent::Rewards { page: 0 },
        [0xe0, 0x7a, 0x1f],
    ),
    ("บัตรสมาชิก", "Member card", Intent::Card, [0x2d, 0x6c, 0xdf]),
    ("ประวัติ", "History", Intent::History, [0x6b, 0x4c, 0xc2]),
    (
        "โปรโมชั่น",
        "Promotions",
        Intent::Promotions,
        [0xd6, 0x3c, 0x5e],
    ),
    ("ช่วยเหลือ", "Help", Intent::Help, [0x55, 0x5f, 0x6d]),
];

/// The rich menu object for `POST /v2/bot/richmenu`.
pub fn definition() -> Value {
    let (w, h) = (WIDTH / COLS, HEIGHT / ROWS);
    let areas: Vec<Value> = TILES
        .iter()
        .enumerate()
        .map(|(i, (th, en, intent, _))| {
            let (col, row) = (i as u32 % COLS, i as u32 / COLS);
            json!({
                "bounds": {"x": col * w, "y": row * h, "width": w, "height": h},
                "action": {"type": "postback", "data": intent.to_callback(),
                           "displayText": format!("{th} / {en}")}
            })
        })
        .collect();
    json!({
        "size": {"width": WIDTH, "height": HEIGHT},
        "selected": true,
        "name": "taem default menu",
        "chatBarText": "เมนู / Menu",
        "areas": areas
    })
}

fn fill(img: &mut RgbImage, x0: u32, y0: u32, w: u32, h: u32, c: Rgb<u8>) {
    for y in y0..(y0 + h).min(img.height()) {
        for x in x0..(x0 + w).min(img.width()) {
            img.put_pixel(x, y, c);
        }
    }
}

fn disc(img: &mut RgbImage, cx: i64, cy: i64, r: i64, hole: i64, c: Rgb<u8>) {
    for y in (cy - r)..=(cy + r) {
        for x in (cx - r)..=(cx + r) {
            let d = (x - cx).pow(2) + (y - cy).pow(2);
            if d <= r * r
                && d >= hole * hole
                && x >= 0
                && y >= 0
                && let Some(p) = img.get_pixel_mut_checked(x as u32, y as u32)
            {
                *p = c;
            }
        }
    }
}

/// The menu image as PNG (flat colours compress far below LINE's 1 MB).
pub fn image_png() -> Vec<u8> {
    let (w, h) = (WIDTH / COLS, HEIGHT / ROWS);
    let mut img = RgbImage::new(WIDTH, HEIGHT);
    let white = Rgb([255, 255, 255]);
    for (i, (_, _, _, color)) in TILES.iter().enumerate() {
        let (x0, y0) = ((i as u32 % COLS) * w, (i as u32 / COLS) * h);
        fill(&mut img, x0, y0, w, h, Rgb(*color));
        // A thin white border between tiles.
        fill(&mut img, x0, y0, w, 6, white);
        fill(&mut img, x0, y0, 6, h, white);
        let (cx, cy) = (i64::from(x0 + w / 2), i64::from(y0 + h / 2));
        let u = i64::from(h / 8);
        match i {
            // A coin.
            0 => {
                disc(&mut img, cx, cy, 2 * u, 0, white);
                disc(&mut img, cx, cy, u, u - 25, Rgb(*color));
            }
            // A gift: box and ribbon.
            1 => {
                let (bx, by) = ((cx - 2 * u) as u32, (cy - u) as u32);
                fill(&mut img, bx, by, 4 * u as u32, 3 * u as u32, white);
                fill(
                    &mut img,
                    (cx - 15) as u32,
                    by,
                    30,
                    3 * u as u32,
                    Rgb(*color),
                );
                disc(&mut img, cx - u / 2, cy - u - u / 3, u / 2, u / 4, white);
                disc(&mut img, cx + u / 2, cy - u - u / 3, u / 2, u / 4, white);
            }
            // A card with a stripe.
            2 => {
                fill(
                    &mut img,
                    (cx - 3 * u) as u32,
                    (cy - 2 * u) as u32,
                    6 * u as u32,
                    4 * u as u32,
                    white,
                );
                fill(
                    &mut img,
                    (cx - 3 * u) as u32,
                    (cy - u) as u32,
                    6 * u as u32,
                    (u / 2) as u32,
                    Rgb(*color),
                );
            }
            // A list: three lines.
            3 => {
                for k in -1..=1 {
                    fill(
                        &mut img,
                        (cx - 2 * u) as u32,
                        (cy + k * u - 20) as u32,
                        4 * u as u32,
                        40,
                        white,
                    );
                }
            }
            // A star-like burst: a ring.
            4 => disc(&mut img, cx, cy, 2 * u, u, white),
            // A question: a ring with a dot below.
            _ => {
                disc(&mut img, cx, cy - u / 2, 3 * u / 2, u, white);
                disc(&mut img, cx, cy + 2 * u, u / 3, 0, white);
            }
        }
    }
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("writing a PNG to memory cannot fail");
    out.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_menu_covers_the_image_and_each_tile_asks_for_something() {
        let def = definition();
        let areas = def["areas"].as_array().unwrap();
        assert_eq!(areas.len(), 6);
        let covered: u64 = areas
            .iter()
            .map(|a| {
                a["bounds"]["width"].as_u64().unwrap() * a["bounds"]["height"].as_u64().unwrap()
            })
            .sum();
        assert!(covered >= u64::from(WIDTH - 2) * u64::from(HEIGHT - 2));
        for a in areas {
            let data = a["action"]["data"].as_str().unwrap();
            assert_ne!(Intent::from_callback(data), Intent::Unknown, "{data}");
        }
        assert!(def["chatBarText"].as_str().unwrap().chars().count() <= 14);
        let png = image_png();
        assert!(
            png.len() < 1_000_000,
            "LINE takes at most 1 MB: {}",
            png.len()
        );
        let img = image::load_from_memory(&png).unwrap();
        assert_eq!((img.width(), img.height()), (WIDTH, HEIGHT));
    }
}
