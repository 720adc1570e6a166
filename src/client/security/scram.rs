//! SCRAM (RFC 5802, RFC 7677) as Kafka uses it, without channel binding:
//! the client's first message, the proof for the server's challenge, and
//! the check of the server's signature. Pure logic over `ring`'s HMAC,
//! digest and PBKDF2; the wire exchange lives in `sasl`.

use std::num::NonZeroU32;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ring::{digest, hmac, pbkdf2};

/// Kafka refuses fewer iterations than this; so do we (a server asking for
/// fewer is not one we should prove a password to).
const MIN_ITERATIONS: u32 = 4096;
/// Kafka's own maximum (ScramMechanism.maxIterations): a server asking for
/// more would have us hash for minutes, unstoppable, before it answers.
const MAX_ITERATIONS: u32 = 16384;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    Sha256,
    Sha512,
}

impl Hash {
    fn hmac(self) -> hmac::Algorithm {
        match self {
            Hash::Sha256 => hmac::HMAC_SHA256,
            Hash::Sha512 => hmac::HMAC_SHA512,
        }
    }
    fn digest(self) -> &'static digest::Algorithm {
        match self {
            Hash::Sha256 => &digest::SHA256,
            Hash::Sha512 => &digest::SHA512,
        }
    }
    fn pbkdf2(self) -> pbkdf2::Algorithm {
        match self {
            Hash::Sha256 => pbkdf2::PBKDF2_HMAC_SHA256,
            Hash::Sha512 => pbkdf2::PBKDF2_HMAC_SHA512,
        }
    }
    fn len(self) -> usize {
        self.digest().output_len()
    }
}

/// One SCRAM exchange, from the client's side.
pub struct Client {
    hash: Hash,
    client_first_bare: String,
    nonce: String,
    /// The server signature we expect in its final message.
    server_signature: Option<Vec<u8>>,
}

impl Client {
    /// Starts an exchange for `user` with a fresh `nonce` (printable, no ',').
    pub fn new(hash: Hash, user: &str, nonce: String) -> Self {
        let client_first_bare = format!("n={},r={nonce}", escape_name(user));
        Client {
            hash,
            client_first_bare,
            nonce,
            server_signature: None,
        }
    }

    /// `n,,n=USER,r=NONCE`: no channel binding, no authorization id.
    pub fn first_message(&self) -> String {
        format!("n,,{}", self.client_first_bare)
    }

    /// The client's final message (with its proof) for the server's first message.
    pub fn final_message(&mut self, server_first: &str, password: &str) -> Result<String, String> {
        let mut nonce = None;
        let mut salt = None;
        let mut iterations = None;
        for attr in server_first.split(',') {
            match attr.split_at_checked(2) {
                Some(("r=", v)) => nonce = Some(v),
                Some(("s=", v)) => salt = Some(v),
                Some(("i=", v)) => iterations = Some(v),
                Some(("e=", v)) => return Err(format!("the server refused: {v}")),
                _ => {}
            }
        }
        let (Some(nonce), Some(salt), Some(iterations)) = (nonce, salt, iterations) else {
            return Err("the server's challenge lacks a nonce, salt or iteration count".into());
        };
        if !nonce.starts_with(&self.nonce) || nonce.len() <= self.nonce.len() {
            return Err("the server's nonce does not extend ours".into());
        }
        let salt = B64
            .decode(salt)
            .map_err(|_| "the server's salt is not base64".to_string())?;
        let iterations: u32 = iterations
            .parse()
            .map_err(|_| "the server's iteration count is not a number".to_string())?;
        if iterations < MIN_ITERATIONS {
            return Err(format!(
                "the server asks for {iterations} iterations, fewer than {MIN_ITERATIONS}"
            ));
        }
        if iterations > MAX_ITERATIONS {
            return Err(format!(
                "the server asks for {iterations} iterations, more than Kafka's maximum {MAX_ITERATIONS}"
            ));
        }

        let h = self.hash;
        let mut salted = vec![0u8; h.len()];
        pbkdf2::derive(
            h.pbkdf2(),
            NonZeroU32::new(iterations).unwrap_or(NonZeroU32::MIN),
            &salt,
            password.as_bytes(),
            &mut salted,
        );
        let salted_key = hmac::Key::new(h.hmac(), &salted);
        let client_key = hmac::sign(&salted_key, b"Client Key");
        let stored_key = digest::digest(h.digest(), client_key.as_ref());
        let server_key = hmac::sign(&salted_key, b"Server Key");

        // "biws" is base64("n,,"): the GS2 header, no channel binding.
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{server_first},{without_proof}", self.client_first_bare);
        let client_signature = hmac::sign(
            &hmac::Key::new(h.hmac(), stored_key.as_ref()),
            auth_message.as_bytes(),
        );
        let proof: Vec<u8> = client_key
            .as_ref()
            .iter()
            .zip(client_signature.as_ref())
            .map(|(a, b)| a ^ b)
            .collect();
        self.server_signature = Some(
            hmac::sign(
                &hmac::Key::new(h.hmac(), server_key.as_ref()),
                auth_message.as_bytes(),
            )
            .as_ref()
            .to_vec(),
        );
        Ok(format!("{without_proof},p={}", B64.encode(proof)))
    }

    /// Checks the server's final message: it proves the server knew the password too.
    pub fn verify_server(&self, server_final: &str) -> Result<(), String> {
        if let Some(e) = server_final.strip_prefix("e=") {
            return Err(format!("the server refused: {e}"));
        }
        let Some(v) = server_final.split(',').find_map(|a| a.strip_prefix("v=")) else {
            return Err("the server's final message has no signature".into());
        };
        let got = B64
            .decode(v)
            .map_err(|_| "the server's signature is not base64".to_string())?;
        match &self.server_signature {
            Some(want) if equal(want, &got) => Ok(()),
            _ => Err("the server's signature is wrong: it does not know the password".into()),
        }
    }
}

/// Equal bytes, compared in time that does not depend on where they differ.
fn equal(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A user name as SCRAM writes it: ',' and '=' escaped.
fn escape_name(user: &str) -> String {
    user.replace('=', "=3D").replace(',', "=2C")
}

/// A random nonce of printable characters.
pub fn nonce() -> Result<String, String> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 24];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| "no random numbers from the system".to_string())?;
    Ok(B64.encode(bytes).replace(['+', '/'], "x"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677's SCRAM-SHA-256 example.
    #[test]
    fn rfc7677_example() {
        let mut c = Client::new(Hash::Sha256, "user", "rOprNGfwEbeRWgbNEkqO".into());
        assert_eq!(c.first_message(), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let server_first = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let fin = c.final_message(server_first, "pencil").unwrap();
        assert_eq!(
            fin,
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        c.verify_server("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .unwrap();
        assert!(c
            .verify_server("v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .is_err());
        assert!(c.verify_server("e=invalid-proof").is_err());
    }

    #[test]
    fn challenges_that_are_refused() {
        let mut c = Client::new(Hash::Sha512, "a,b=c", "abc".into());
        assert_eq!(c.first_message(), "n,,n=a=2Cb=3Dc,r=abc");
        assert!(c.final_message("r=xyz123,s=AAAA,i=4096", "p").is_err());
        assert!(c.final_message("r=abcdef,s=AAAA,i=100", "p").is_err());
        let huge = c
            .final_message("r=abcdef,s=AAAA,i=4294967295", "p")
            .unwrap_err();
        assert!(huge.contains("more than Kafka's maximum 16384"), "{huge}");
        assert!(c.final_message("r=abcdef,s=AAAA,i=16384", "p").is_ok());
        assert!(c.final_message("r=abcdef,i=4096", "p").is_err());
        assert!(c.final_message("r=abcdef,s=AAAA,i=4096", "p").is_ok());
        let n = nonce().unwrap();
        assert!(n.len() >= 24 && !n.contains(','));
    }
}
