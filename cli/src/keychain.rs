//! The category keys an actor holds, gathered from the chain's envelopes.
//!
//! A patient's records of one category are wrapped under the category's
//! key of the current epoch (`docs/keys.md`). The first upload to a
//! category makes its key and seals it to the patient; a grant or an
//! approval seals it to the grantee; a rotation makes the next epoch's key,
//! publishes the previous one sealed under it, and seals the new key to the
//! patient and to every staff member who still has access. The envelopes
//! are read from the indexer ([`ring`]); the actor's encryption key is
//! derived from their wallet ([`crate::context::Actor::encryption_key`]).

use alloy::primitives::{Address, Bytes};
use anyhow::{Context as _, anyhow, bail};
use medvault_core::{
    bindings::forwarder::IMedVault,
    envelope,
    keys::{CategoryKey, CategoryKeyId, KeyRing},
    sig,
};
use medvault_gateway::relay::Relayed;

use crate::{context::Actor, indexer_client};

/// `actor`'s key ring for `patient`'s categories: every category key sealed
/// to them and the rotation chain.
pub async fn ring(actor: &Actor, patient: Address) -> anyhow::Result<KeyRing> {
    let mut ring = KeyRing::new(actor.encryption_key().await?.clone());
    for item in &actor.indexer.envelopes(actor.address(), Some(patient)).await? {
        let Some((id, sealed)) = sealed_key(item, patient, "sealedKey")? else { continue };
        // An envelope that does not open for us is someone's mistake, not ours
        // to fail on: the key is looked for elsewhere.
        let _ = ring.add_envelope(id, &sealed);
    }
    for item in &actor.indexer.rotations(patient).await? {
        let Some((id, sealed)) = sealed_key(item, patient, "sealedPreviousKey")? else { continue };
        ring.add_rotation(id, sealed.to_vec());
    }
    Ok(ring)
}

/// The category key id and the sealed key (its `field`) of an envelope or
/// rotation item of the indexer; `None` for an item that lacks them.
fn sealed_key(
    item: &serde_json::Value,
    patient: Address,
    field: &str,
) -> anyhow::Result<Option<(CategoryKeyId, Bytes)>> {
    let (Some(category), Some(epoch), Some(sealed)) = (
        indexer_client::number(item, "category"),
        indexer_client::number(item, "epoch"),
        indexer_client::text(item, field),
    ) else {
        return Ok(None);
    };
    let id =
        CategoryKeyId { patient, category: u8::try_from(category)?, epoch: u32::try_from(epoch)? };
    let sealed = sealed.parse().with_context(|| format!("an indexer item's {field} is not hex"))?;
    Ok(Some((id, sealed)))
}

/// The key of `patient`'s `category` in its current epoch, as the patient
/// (or a manage guardian) holds it; made and sealed to the actor when the
/// category has none yet. Returns the relayed publication when one was made.
pub async fn current_key(
    actor: &Actor,
    patient: Address,
    category: u8,
) -> anyhow::Result<(CategoryKey, Option<Relayed>)> {
    let epoch = actor.vault.categoryEpoch(patient, category).call().await?;
    let id = CategoryKeyId { patient, category, epoch };
    if let Some(key) = actor.cached_category_key(id).await {
        return Ok((key, None));
    }
    let ring = ring(actor, patient).await?;
    if let Ok(key) = ring.category_key(id) {
        actor.remember_category_key(&key).await;
        return Ok((key, None));
    }
    if epoch > 0 {
        bail!(
            "no key for category {category} epoch {epoch} is sealed to {}: rotate the category to make a new one",
            actor.address()
        );
    }
    let key = CategoryKey::generate(id);
    let relayed = publish(actor, &key, actor.address()).await?;
    actor.remember_category_key(&key).await;
    Ok((key, Some(relayed)))
}

/// Seals `key` to `recipient`'s registered encryption key and publishes it.
pub async fn publish(
    actor: &Actor,
    key: &CategoryKey,
    recipient: Address,
) -> anyhow::Result<Relayed> {
    let public = if recipient == actor.address() {
        actor.encryption_key().await?.public_key()
    } else {
        let registered = actor.vault.encryptionKey(recipient).call().await?;
        if registered.is_empty() {
            bail!("{recipient} has no encryption key on chain, so nothing can be sealed to them");
        }
        envelope::parse_public_key(&registered)
            .map_err(|_| anyhow!("{recipient}'s encryption key on chain is not a valid key"))?
    };
    let id = key.id();
    actor
        .relay(sig::PublishCategoryKey {
            patient: id.patient,
            category: id.category,
            epoch: id.epoch,
            envelope: IMedVault::Envelope { recipient, sealedKey: key.seal_to(&public).into() },
        })
        .await
}

/// Moves `patient`'s `category` to a new epoch: a new key, the previous one
/// sealed under it, the new key sealed to the actor and to every grantee in
/// `grantees` that still has access. Returns the new key and the relayed
/// transactions.
pub async fn rotate(
    actor: &Actor,
    patient: Address,
    category: u8,
    grantees: &[Address],
) -> anyhow::Result<(CategoryKey, Vec<Relayed>)> {
    let (previous, made) = current_key(actor, patient, category).await?;
    let mut relayed: Vec<Relayed> = made.into_iter().collect();
    let id = CategoryKeyId { epoch: previous.id().epoch + 1, ..previous.id() };
    let next = CategoryKey::generate(id);
    let sealed = next.seal_previous(&previous)?;
    relayed.push(
        actor
            .relay(sig::RotateCategoryKey { patient, category, sealed_previous_key: sealed.into() })
            .await?,
    );
    relayed.push(publish(actor, &next, actor.address()).await?);
    for grantee in grantees {
        if *grantee != actor.address()
            && actor.vault.hasAccess(patient, *grantee, category).call().await?
        {
            relayed.push(publish(actor, &next, *grantee).await?);
        }
    }
    Ok((next, relayed))
}
