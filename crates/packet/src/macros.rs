//! `open_enum!`: a wire code as an enum that keeps unknown values.

/// Declares an enum over an integer wire code with one variant per known value and
/// `Other(n)` for the rest, plus lossless `From` conversions both ways. Build values with
/// `From` so a known code never ends up as `Other`.
macro_rules! open_enum {
    (
        $(#[$attr:meta])*
        pub enum $name:ident($repr:ty) {
            $( $(#[$vattr:meta])* $variant:ident = $value:expr, )+
        }
    ) => {
        $(#[$attr])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vattr])* $variant, )+
            /// Any other value, kept so that it round-trips.
            Other($repr),
        }

        impl From<$repr> for $name {
            fn from(value: $repr) -> Self {
                match value {
                    $( $value => Self::$variant, )+
                    other => Self::Other(other),
                }
            }
        }

        impl From<$name> for $repr {
            fn from(value: $name) -> Self {
                match value {
                    $( $name::$variant => $value, )+
                    $name::Other(other) => other,
                }
            }
        }
    };
}
