//! An item's name in the archive, `collection/id`: the one place that spells it, splits it and
//! holds it to the identifier rule ([`check_identifier`]: both parts become folder names, so
//! neither may escape the archive). Events, the catalogue, the CLI and the app all name an item
//! this way.

use crate::metadata::{check_identifier, MetadataError};
use std::fmt;
use std::path::PathBuf;

/// A collection and an item id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ItemId {
    pub collection: String,
    pub id: String,
}

impl ItemId {
    /// The item `id` of `collection`, both held to the identifier rule.
    pub fn new(collection: &str, id: &str) -> Result<ItemId, MetadataError> {
        check_identifier("collection", collection)?;
        check_identifier("item id", id)?;
        Ok(ItemId::known(collection, id))
    }

    /// The name of an item the archive or a request already holds, whose parts were checked
    /// when it was made (an ingest request, a journal, a bag found on disk): only spelled,
    /// not checked again.
    pub fn known(collection: &str, id: &str) -> ItemId {
        ItemId {
            collection: collection.to_string(),
            id: id.to_string(),
        }
    }

    /// Its bag, relative to the archive's root: `collection/id`.
    pub fn bag(&self) -> PathBuf {
        PathBuf::from(&self.collection).join(&self.id)
    }
}

impl fmt::Display for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.collection, self.id)
    }
}

impl std::str::FromStr for ItemId {
    type Err = MetadataError;

    /// `collection/id`, each part held to the identifier rule (so a third `/` is refused).
    fn from_str(s: &str) -> Result<ItemId, MetadataError> {
        let Some((collection, id)) = s.split_once('/') else {
            return Err(MetadataError::BadIdentifier {
                what: "item",
                value: s.to_string(),
                reason: "it is not collection/id".into(),
            });
        };
        ItemId::new(collection, id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_item_is_spelled_and_read_back_as_collection_slash_id() {
        let item: ItemId = "tapes/reel-7".parse().unwrap();
        assert_eq!(item, ItemId::new("tapes", "reel-7").unwrap());
        assert_eq!(item.to_string(), "tapes/reel-7");
        assert_eq!(item.bag(), PathBuf::from("tapes/reel-7"));
        for bad in [
            "reel-7",
            "tapes/",
            "/reel-7",
            "tapes/a/b",
            "../x",
            "tapes/..",
            "tapes/.hidden",
            "ta pes/x",
            "",
        ] {
            assert!(bad.parse::<ItemId>().is_err(), "{bad:?}");
        }
    }
}
