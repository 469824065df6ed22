//! Resource schemas: the attributes a resource type accepts and returns.

use serde::Serialize;

/// The type of an attribute's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AttrType {
    /// A string.
    String,
    /// A number.
    Number,
    /// A boolean.
    Bool,
    /// A list of strings.
    StringList,
    /// A map of strings to strings.
    StringMap,
    /// Any value, including nested lists and maps.
    Any,
}

/// How one attribute of a resource type behaves.
#[derive(Debug, Clone, Serialize)]
pub struct AttributeSchema {
    /// Attribute name as written in configuration and state.
    pub name: &'static str,
    /// Value type.
    pub attr_type: AttrType,
    /// Whether configuration must set the attribute.
    pub required: bool,
    /// Whether the provider sets the attribute (alone, or when configuration
    /// leaves it out).
    pub computed: bool,
    /// Whether the value is never printed.
    pub sensitive: bool,
    /// Whether a change to this attribute replaces the resource.
    pub force_new: bool,
    /// One sentence that says what the attribute is.
    pub description: &'static str,
}

impl AttributeSchema {
    /// Returns an attribute that configuration must set.
    pub const fn required(name: &'static str, attr_type: AttrType, description: &'static str) -> Self {
        Self {
            name,
            attr_type,
            required: true,
            computed: false,
            sensitive: false,
            force_new: false,
            description,
        }
    }

    /// Returns an attribute that configuration may set.
    pub const fn optional(name: &'static str, attr_type: AttrType, description: &'static str) -> Self {
        Self {
            name,
            attr_type,
            required: false,
            computed: false,
            sensitive: false,
            force_new: false,
            description,
        }
    }

    /// Returns an attribute that only the provider sets.
    pub const fn computed(name: &'static str, attr_type: AttrType, description: &'static str) -> Self {
        Self {
            name,
            attr_type,
            required: false,
            computed: true,
            sensitive: false,
            force_new: false,
            description,
        }
    }

    /// Marks the attribute as replacing the resource when it changes.
    pub const fn force_new(mut self) -> Self {
        self.force_new = true;
        self
    }

    /// Marks the attribute as sensitive.
    pub const fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }

    /// Returns true when only the provider sets this attribute.
    pub fn is_computed_only(&self) -> bool {
        self.computed && !self.required
    }
}

/// The schema of one resource type.
#[derive(Debug, Clone, Serialize)]
pub struct ResourceSchema {
    /// Resource type name, such as `sqlite_tenant`.
    pub type_name: &'static str,
    /// One sentence that says what the resource manages.
    pub description: &'static str,
    /// Every attribute of the type.
    pub attributes: Vec<AttributeSchema>,
}

impl ResourceSchema {
    /// Returns the schema of the named attribute.
    pub fn attribute(&self, name: &str) -> Option<&AttributeSchema> {
        self.attributes.iter().find(|attribute| attribute.name == name)
    }
}
