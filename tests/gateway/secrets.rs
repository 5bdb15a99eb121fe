//! Accounts from AWS Secrets Manager, read once at cold start, through the real SDK against a
//! local stand-in for the Secrets Manager endpoint (the wire protocol, not a mock of the SDK).

use std::sync::{Arc, Mutex};

use kantan::accounts::{DEMO_ACCOUNT_ID, demo_account};

use kantan::config::Settings;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Answers every request with `body` and keeps what was asked.
async fn secrets_manager(body: String) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buf = vec![0u8; 64 * 1024];
            let mut read = 0;
            // Headers, then Content-Length bytes of body.
            loop {
                let n = stream.read(&mut buf[read..]).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                read += n;
                let text = String::from_utf8_lossy(&buf[..read]).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned())
                        })
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    if read >= end + 4 + length {
                        break;
                    }
                }
            }
            log.lock().expect("log").push(String::from_utf8_lossy(&buf[..read]).to_string());
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.1\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{}",
                body.len(),
                body
            );
            let _ = stream.write_all(response.as_bytes()).await;
        }
    });
    (url, seen)
}

#[tokio::test]
async fn accounts_come_from_the_secret() {
    let accounts = serde_json::json!([{
        "processingAccountId": DEMO_ACCOUNT_ID,
        "apiKeySha256": demo_account("https://x").api_key_sha256,
        "captureMode": "automatic",
        "sbps": {"merchantId": "12345", "serviceId": "001", "hashKey": "secret-hash-key",
                 "purchaseUrl": "https://stbfep.sps-system.com/f01/FepBuyInfoReceive.do",
                 "apiUrl": "https://stbfep.sps-system.com/api/xmlapi.do"}
    }]);
    let answer = serde_json::json!({
        "ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:kantan-accounts",
        "Name": "kantan-accounts",
        "SecretString": accounts.to_string(),
        "VersionId": "v1"
    });
    let (url, seen) = secrets_manager(answer.to_string()).await;
    let aws = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(url)
        .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(
            aws_sdk_dynamodb::config::Credentials::new("id", "secret", None, None, "test"),
        ))
        .build();
    let settings =
        Settings::from_lookup(|n| (n == "ACCOUNTS_SECRET_ID").then(|| "kantan-accounts".to_owned())).expect("settings");
    let loaded = kantan::app::load_accounts(&settings, Some(&aws)).await.expect("accounts");
    let account = loaded.get(DEMO_ACCOUNT_ID).expect("the account");
    assert_eq!(account.sbps.merchant_id, "12345");
    assert_eq!(account.capture_mode, kantan::payment::CaptureMode::Automatic);
    assert!(loaded.authenticate("sk_local_demo").is_some());

    let requests = seen.lock().expect("log").clone();
    assert_eq!(requests.len(), 1, "read once");
    assert!(requests[0].to_ascii_lowercase().contains("x-amz-target: secretsmanager.getsecretvalue"));
    assert!(requests[0].contains("\"SecretId\":\"kantan-accounts\""));
}
