//! A small SMTP server for tests: speaks enough SMTP for lettre (EHLO, MAIL, RCPT, DATA, RSET,
//! NOOP, QUIT), keeps every message it accepts, refuses recipients whose address holds `bounce`
//! (550, a permanent failure) and can answer the next few messages' DATA with 451 (temporary).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use figment::Figment;
use figment::providers::Serialized;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};

/// One message the sink accepted.
#[derive(Debug, Clone)]
pub struct Received {
    /// The envelope's recipients.
    pub to: Vec<String>,
    /// The message as sent (headers and body, dot-unstuffed).
    pub data: String,
}

impl Received {
    /// The parsed message.
    pub fn parsed(&self) -> mail_parser::Message<'_> {
        mail_parser::MessageParser::default()
            .parse(self.data.as_bytes())
            .expect("a MIME message")
    }
}

#[derive(Debug, Default)]
struct Shared {
    messages: Mutex<Vec<Received>>,
    temporary_failures: AtomicUsize,
}

/// The sink; it stops with the test's runtime.
#[derive(Debug, Clone)]
pub struct SmtpSink {
    port: u16,
    shared: Arc<Shared>,
}

impl SmtpSink {
    /// Listens on a free loopback port.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared::default());
        let serving = shared.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(session(stream, serving.clone()));
            }
        });
        Self { port, shared }
    }

    /// `figment` with this sink as the notifications' relay (no TLS: loopback only).
    pub fn relay_for(&self, figment: Figment) -> Figment {
        figment
            .merge(Serialized::default("notifications.smtp_host", "127.0.0.1"))
            .merge(Serialized::default("notifications.smtp_port", self.port))
            .merge(Serialized::default("notifications.smtp_tls", "none"))
            .merge(Serialized::default(
                "notifications.from",
                "Harbour Clinic <notify@harbour.example>",
            ))
    }

    /// Answers the next `n` messages' DATA with 451.
    pub fn fail_next(&self, n: usize) {
        self.shared.temporary_failures.store(n, Ordering::SeqCst);
    }

    /// Every message accepted so far.
    pub fn messages(&self) -> Vec<Received> {
        self.shared.messages.lock().unwrap().clone()
    }

    /// Waits until a message to `to` whose subject starts with `subject` arrived.
    pub async fn wait_for(&self, to: &str, subject: &str) -> Received {
        for _ in 0..300 {
            let found = self.messages().into_iter().find(|m| {
                m.to.iter().any(|t| t == to)
                    && m.parsed().subject().is_some_and(|s| s.starts_with(subject))
            });
            if let Some(message) = found {
                return message;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "no message to {to} with subject {subject}: {:?}",
            self.messages()
        );
    }
}

/// The address in `MAIL FROM:<…>` / `RCPT TO:<…>`.
fn address(line: &str) -> String {
    line.split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .map(|(address, _)| address.to_owned())
        .unwrap_or_default()
}

async fn say(write: &mut OwnedWriteHalf, reply: &str) -> bool {
    write.write_all(reply.as_bytes()).await.is_ok()
}

async fn session(stream: TcpStream, shared: Arc<Shared>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    if !say(&mut write, "220 sink.test ESMTP\r\n").await {
        return;
    }
    let mut to = Vec::new();
    loop {
        let mut line = String::new();
        if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let command = line.trim_end().to_ascii_uppercase();
        let reply = if command.starts_with("EHLO") {
            "250-sink.test\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n".to_owned()
        } else if command.starts_with("HELO") || command.starts_with("NOOP") {
            "250 ok\r\n".to_owned()
        } else if command.starts_with("MAIL FROM") || command.starts_with("RSET") {
            to.clear();
            "250 ok\r\n".to_owned()
        } else if command.starts_with("RCPT TO") {
            let recipient = address(line.trim_end());
            if recipient.contains("bounce") {
                format!("550 5.1.1 <{recipient}>: no such user\r\n")
            } else {
                to.push(recipient);
                "250 ok\r\n".to_owned()
            }
        } else if command == "DATA" {
            if !say(&mut write, "354 go ahead\r\n").await {
                return;
            }
            let mut data = String::new();
            loop {
                let mut line = String::new();
                if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
                }
                if line == ".\r\n" {
                    break;
                }
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
            }
            let failing = shared
                .temporary_failures
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if failing {
                "451 4.3.0 try again later\r\n".to_owned()
            } else {
                let mut messages = shared.messages.lock().unwrap();
                messages.push(Received {
                    to: std::mem::take(&mut to),
                    data,
                });
                format!("250 2.0.0 queued as Q{}\r\n", messages.len())
            }
        } else if command.starts_with("QUIT") {
            let _ = say(&mut write, "221 bye\r\n").await;
            return;
        } else {
            "502 not implemented\r\n".to_owned()
        };
        if !say(&mut write, &reply).await {
            return;
        }
    }
}
