//! The credential check through the verifier library: every credential the wallet receives
//! goes through `credence_verifier::pipeline::verify_sd_jwt_vc` (or `verify_vc_jwt`; issuer as of issuance,
//! signature, validity, status, accreditation, schema) before it is stored. Holder binding is
//! "not required": a credential as issued carries no key-binding JWT; the wallet checks the
//! `cnf` key against the holder key it asked for itself (`Wallet::store_credential`).
//!
//! Why two types: the pipeline is async (it resolves DIDs and fetches status lists), the wallet
//! store is synchronous. [`VerifierCheck::check`] runs the pipeline and returns a [`Checked`],
//! the answer for exactly that credential; [`Checked`] is the [`CredentialCheck`] the store
//! asks, and it refuses to speak for any other credential. So the store never blocks on the
//! network, and nothing can be stored on the strength of another credential's check.
//!
//! What it must not do: read the clock (`now` is a parameter) or decide anything the report
//! does not say. "Could not check" (a registry or status list that did not answer) is
//! [`CheckUnavailable`], never a refusal verdict.

use chrono::{DateTime, Duration, Utc};
use credence_verifier::pipeline::{Context, Expectations, HolderBinding, Policy};
use credence_verifier::report::{Outcome, Verdict};
use sha2::{Digest as _, Sha256};

use crate::credentials::{CheckUnavailable, CheckVerdict, CredentialCheck, SdJwtVc, VcJwt};

/// The verifier library as the wallet's credential check.
#[derive(Debug)]
pub struct VerifierCheck {
    context: Context,
    leeway: Duration,
}

impl VerifierCheck {
    /// Checks with `context` (its resolver, registry and status-list access decide what can be
    /// checked) and a 60 s clock-skew leeway.
    pub fn new(context: Context) -> Self {
        Self {
            context,
            leeway: Duration::seconds(60),
        }
    }

    fn expectations(&self, now: DateTime<Utc>) -> Expectations {
        Expectations {
            now,
            leeway: self.leeway,
            holder_binding: HolderBinding::NotRequired,
            policy: Policy::default(),
        }
    }

    /// Runs the pipeline on `credential` as of `now`.
    pub async fn check(&self, credential: &SdJwtVc, now: DateTime<Utc>) -> Checked {
        let report = credence_verifier::verify_sd_jwt_vc(
            credential.compact().as_bytes(),
            &self.expectations(now),
            &self.context,
        )
        .await;
        Checked {
            fingerprint: fingerprint(credential.compact()),
            result: answer(report),
        }
    }

    /// Runs the `vc+jwt` pipeline on `credential` as of `now` (holder binding is the wallet's
    /// own check of `credentialSubject.id` against its key).
    pub async fn check_vc_jwt(&self, credential: &VcJwt, now: DateTime<Utc>) -> Checked {
        let report = credence_verifier::verify_vc_jwt(
            credential.compact().as_bytes(),
            &self.expectations(now),
            &self.context,
        )
        .await;
        Checked {
            fingerprint: fingerprint(credential.compact()),
            result: answer(report),
        }
    }
}

/// The report as the store's answer.
fn answer(
    report: Result<credence_verifier::Report, credence_verifier::VerifyError>,
) -> Result<CheckVerdict, CheckUnavailable> {
    match report {
        Err(error) => Err(CheckUnavailable(error.to_string())),
        Ok(report) => match report.verdict() {
            Verdict::Valid => Ok(CheckVerdict::Valid),
            Verdict::Invalid => {
                let (step, reason) = report
                    .first_failure()
                    .map(|(step, defect)| (step.name().to_owned(), defect.to_string()))
                    .unwrap_or_else(|| ("unknown".into(), "invalid".into()));
                Ok(CheckVerdict::Invalid { step, reason })
            }
            Verdict::CouldNotCheck => {
                let why = report
                    .steps()
                    .iter()
                    .find_map(|s| match &s.outcome {
                        Outcome::CouldNotCheck(why) => Some(format!("{}: {why}", s.step)),
                        _ => None,
                    })
                    .unwrap_or_default();
                Err(CheckUnavailable(why))
            }
        },
    }
}

/// The pipeline's answer for one credential, as the store's [`CredentialCheck`].
#[derive(Debug, Clone)]
pub struct Checked {
    fingerprint: [u8; 32],
    result: Result<CheckVerdict, CheckUnavailable>,
}

impl Checked {
    /// The answer: a verdict, or why it could not be had.
    pub fn result(&self) -> &Result<CheckVerdict, CheckUnavailable> {
        &self.result
    }
}

impl CredentialCheck for Checked {
    fn check(
        &self,
        credential: &SdJwtVc,
        _now: DateTime<Utc>,
    ) -> Result<CheckVerdict, CheckUnavailable> {
        self.answer_for(credential.compact())
    }

    fn check_vc_jwt(
        &self,
        credential: &VcJwt,
        _now: DateTime<Utc>,
    ) -> Result<CheckVerdict, CheckUnavailable> {
        self.answer_for(credential.compact())
    }
}

impl Checked {
    fn answer_for(&self, compact: &str) -> Result<CheckVerdict, CheckUnavailable> {
        if fingerprint(compact) != self.fingerprint {
            return Err(CheckUnavailable(
                "this check was made for another credential".into(),
            ));
        }
        self.result.clone()
    }
}

fn fingerprint(compact: &str) -> [u8; 32] {
    Sha256::digest(compact.as_bytes()).into()
}
