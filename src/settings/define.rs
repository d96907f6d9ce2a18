//! `define_settings!`: from one table of settings, the partition and topic
//! configuration structs with everything that follows from the table.
//!
//! The table, after the two struct headers, is a list of settings:
//!
//! ```text
//! /// Documentation (carried onto the fields of both structs).
//! field_name: Type {
//!     scope: partition,              // partition | inherited | topic
//!     default: <expr>,
//!     key: "kafka.name",             // its key in topic.properties
//!     absent_before: "feature",      // optional: files written before
//!                                    // `feature` lack the key, which then
//!                                    // takes the default
//!     range: <range expr>,           // optional: what validate allows
//! }
//! ```
//!
//! - `partition`: a field of both structs, which the topic hands down to
//!   each partition.
//! - `inherited`: the same, but the topic's field is an `Option`, `None`
//!   (the default, written `default`) taking the log's value.
//! - `topic`: a field of the topic's struct only.
//!
//! The order of the table is the order of the keys in `topic.properties`,
//! and of the fields.

macro_rules! define_settings {
    // ---- Per-scope pieces. ----
    (@topic_ty inherited $ty:ty) => { ::core::option::Option<$ty> };
    (@topic_ty $scope:ident $ty:ty) => { $ty };

    (@topic_default inherited $default:expr) => { ::core::option::Option::None };
    (@topic_default $scope:ident $default:expr) => { $default };

    (@topic_setter inherited $name:ident $ty:ty) => {
        #[doc = concat!("Sets [`Self::", stringify!($name), "`] (to `Some`).")]
        pub fn $name(mut self, value: $ty) -> Self {
            self.$name = ::core::option::Option::Some(value);
            self
        }
    };
    (@topic_setter $scope:ident $name:ident $ty:ty) => {
        $crate::settings::define::define_settings!(@setter $name $ty);
    };
    (@setter $name:ident $ty:ty) => {
        #[doc = concat!("Sets [`Self::", stringify!($name), "`].")]
        pub fn $name(mut self, value: $ty) -> Self {
            self.$name = value;
            self
        }
    };

    (@encode inherited $value:expr) => { $crate::settings::encode_inherited(&$value) };
    (@encode $scope:ident $value:expr) => { $crate::settings::encode(&$value) };

    (@decode inherited $f:ident $key:literal [$default:expr] []) => {
        $crate::settings::decode_inherited($f, $key)?
    };
    (@decode $scope:ident $f:ident $key:literal [$default:expr] []) => {
        $crate::settings::decode($f, $key, ::core::option::Option::None)?
    };
    (@decode $scope:ident $f:ident $key:literal [$default:expr] [$since:literal]) => {
        $crate::settings::decode($f, $key, ::core::option::Option::Some($default))?
    };

    (@usable inherited $value:expr) => {
        if let ::core::option::Option::Some(v) = &$value {
            $crate::settings::values::PropertyValue::usable(v)?;
        }
    };
    (@usable $scope:ident $value:expr) => {
        $crate::settings::values::PropertyValue::usable(&$value)?;
    };

    (@hand_down inherited $topic:expr, $log:expr) => {
        ::core::option::Option::unwrap_or($topic, $log)
    };
    (@hand_down $scope:ident $topic:expr, $log:expr) => { $topic };

    // ---- Split: collect the settings of the partition struct. ----
    (@split $headers:tt [$($partition:tt)*] $table:tt) => {
        $crate::settings::define::define_settings!(@emit $headers [$($partition)*] $table);
    };
    (@split $headers:tt [$($partition:tt)*] $table:tt
        $(#[$attr:meta])* $name:ident : $ty:ty { scope: topic, $($body:tt)* }
        $($rest:tt)*
    ) => {
        $crate::settings::define::define_settings!(
            @split $headers [$($partition)*] $table $($rest)*
        );
    };
    (@split $headers:tt [$($partition:tt)*] $table:tt
        $(#[$attr:meta])* $name:ident : $ty:ty {
            scope: $scope:ident,
            default: $default:expr,
            key: $key:literal,
            $(absent_before: $since:literal,)?
            $(range: $range:expr,)?
        }
        $($rest:tt)*
    ) => {
        $crate::settings::define::define_settings!(
            @split $headers
            [$($partition)* { $scope [$(#[$attr])*] $name [$ty] [$default] [$($range)?] }]
            $table $($rest)*
        );
    };

    // ---- Emit both structs. ----
    (@emit
        [
            $(#[$pattr:meta])* pub struct $P:ident;
            $(#[$tattr:meta])* pub struct $T:ident;
        ]
        [$({
            $pscope:ident [$(#[$pa:meta])*] $pname:ident [$pty:ty] [$pdefault:expr]
            [$($prange:expr)?]
        })*]
        [$(
            $(#[$a:meta])* $name:ident : $ty:ty {
                scope: $scope:ident,
                default: $default:expr,
                key: $key:literal,
                $(absent_before: $since:literal,)?
                $(range: $range:expr,)?
            }
        )*]
    ) => {
        $(#[$pattr])*
        pub struct $P {
            $($(#[$pa])* pub $pname: $pty,)*
        }

        impl ::core::default::Default for $P {
            fn default() -> Self {
                $P { $($pname: $pdefault,)* }
            }
        }

        impl $P {
            $($crate::settings::define::define_settings!(@setter $pname $pty);)*

            /// Checks every value is in its range
            /// ([`Error::InvalidConfig`](crate::Error::InvalidConfig) names
            /// the setting, its range and the value).
            pub fn validate(&self) -> $crate::error::Result<()> {
                $($($crate::settings::check(stringify!($pname), &self.$pname, $prange)?;)?)*
                $($crate::settings::values::PropertyValue::usable(&self.$pname)?;)*
                Ok(())
            }
        }

        $(#[$tattr])*
        pub struct $T {
            $(
                $(#[$a])*
                #[doc = ""]
                #[doc = concat!("In `topic.properties`: `", $key, "`.")]
                pub $name: $crate::settings::define::define_settings!(@topic_ty $scope $ty),
            )*
        }

        impl ::core::default::Default for $T {
            fn default() -> Self {
                $T {
                    $($name: $crate::settings::define::define_settings!(
                        @topic_default $scope $default
                    ),)*
                }
            }
        }

        impl $T {
            $($crate::settings::define::define_settings!(@topic_setter $scope $name $ty);)*

            /// Checks every value is in its range
            /// ([`Error::InvalidConfig`](crate::Error::InvalidConfig) names
            /// the setting, its range and the value).
            pub fn validate(&self) -> $crate::error::Result<()> {
                $($($crate::settings::check(stringify!($name), &self.$name, $range)?;)?)*
                $($crate::settings::define::define_settings!(@usable $scope self.$name);)*
                Ok(())
            }

            /// The configuration of each partition log: the topic's
            /// partition settings, with `log`'s where the topic leaves an
            /// inherited one unset.
            pub(crate) fn partition_config_over(&self, log: &$P) -> $P {
                $P {
                    $($pname: $crate::settings::define::define_settings!(
                        @hand_down $pscope self.$pname.clone(), log.$pname.clone()
                    ),)*
                }
            }

            /// Every key of `topic.properties` the settings are written
            /// under, in order.
            #[cfg(test)]
            pub(crate) const KEYS: &'static [&'static str] = &[$($key),*];

            /// The settings as (Kafka key, value) pairs, in table order:
            /// what `topic.properties` holds and `samsa topics describe`
            /// prints (`retention.ms=604800000`, ...).
            pub fn to_properties(
                &self,
            ) -> ::std::vec::Vec<(&'static str, ::std::string::String)> {
                ::std::vec![$(
                    ($key, $crate::settings::define::define_settings!(@encode $scope self.$name)),
                )*]
            }

            /// The settings taken from `f`, which must pass
            /// [`Self::validate`]: anything wrong is `Error::Corrupt`.
            pub(crate) fn from_properties(
                f: &mut $crate::properties::Fields<'_>,
            ) -> $crate::error::Result<Self> {
                let config = $T {
                    $($name: $crate::settings::define::define_settings!(
                        @decode $scope f $key [$default] [$($since)?]
                    ),)*
                };
                config
                    .validate()
                    .map_err(|e| f.corrupt(format!("configuration out of range: {e}")))?;
                Ok(config)
            }
        }
    };

    // ---- Entry: two struct headers, then the table. ----
    (
        $(#[$pattr:meta])* pub struct $P:ident;
        $(#[$tattr:meta])* pub struct $T:ident;
        $($table:tt)*
    ) => {
        $crate::settings::define::define_settings!(
            @split
            [$(#[$pattr])* pub struct $P; $(#[$tattr])* pub struct $T;]
            []
            [$($table)*]
            $($table)*
        );
    };
}

pub(crate) use define_settings;
