//! `taem webhook sign`: the headers that sign a request for a merchant.

use super::*;

pub(super) fn sign(
    merchant: &str,
    secret: &str,
    method: &str,
    path: Option<&str>,
    file: &str,
    out: JsonFlag,
) -> anyhow::Result<()> {
    let body = if file == "-" {
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf)?;
        buf
    } else {
        std::fs::read(file).with_context(|| format!("reading {file}"))?
    };
    let header = match path {
        Some(path) => {
            if !path.starts_with('/') {
                bail!("--path must start with / (e.g. /v1/purchases)");
            }
            let req = signature::Request {
                method,
                path,
                body: &body,
            };
            signature::sign(secret, now().timestamp(), &req)
        }
        None => {
            eprintln!(
                "note: without --path this is a v1 signature (body only); \
                 pass --path (and --method) for a v2 signature bound to the request"
            );
            signature::sign_v1(secret, now().timestamp(), &body)
        }
    };
    #[derive(Serialize)]
    struct Headers<'a> {
        #[serde(rename = "X-Taem-Merchant")]
        merchant: &'a str,
        #[serde(rename = "X-Taem-Signature")]
        signature: &'a str,
    }
    print(
        out,
        &Headers {
            merchant,
            signature: &header,
        },
        || format!("X-Taem-Merchant: {merchant}\nX-Taem-Signature: {header}\n"),
    );
    Ok(())
}
