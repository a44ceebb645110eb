//! The words the archive writes as data (event types, outcomes, defect kinds) as enums whose
//! written form is fixed in one table: each enum serialises as exactly the word earlier releases
//! wrote, and reads back any word, keeping one it does not know (another tool's, a later
//! version's) as `Other` so that reading and writing it back loses nothing.

/// Declares such an enum: `vocabulary! { /// doc  pub enum Name { /// doc  Other(String),
/// /// doc  Variant = "word", … } }` (`Other` first: the macro cannot tell its doc from a variant's).
/// It gets `as_str`, `Display`, `From<String>`, `From<&str>`, `Into<String>` (which serde uses)
/// and `PartialEq<&str>` (comparison with the written word).
macro_rules! vocabulary {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $(#[$ometa:meta])*
            Other(String),
            $( $(#[$vmeta:meta])* $variant:ident = $word:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[derive(ts_rs::TS)]
        #[ts(type = "string")]
        #[serde(from = "String", into = "String")]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
            $(#[$ometa])*
            Other(String),
        }

        impl $name {
            /// The word, as the archive holds it.
            pub fn as_str(&self) -> &str {
                match self {
                    $( $name::$variant => $word, )*
                    $name::Other(s) => s,
                }
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                match s.as_str() {
                    $( $word => $name::$variant, )*
                    _ => $name::Other(s),
                }
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                $name::from(s.to_string())
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                match v {
                    $name::Other(s) => s,
                    v => v.as_str().to_string(),
                }
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                // `pad`, not `write_str`: a width in the format (`{:<12}`) applies.
                f.pad(self.as_str())
            }
        }
    };
}

pub(crate) use vocabulary;
