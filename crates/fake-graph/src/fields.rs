//! The Graph `fields=` expression: `id,caption,children{id,media_url}`,
//! `children.fields(id,media_url)`, `media.limit(5){id}`.

/// One requested field, possibly an edge with its own sub-selection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Field {
    pub name: String,
    pub limit: Option<usize>,
    /// `Some` when the request named sub-fields (`{…}` or `.fields(…)`).
    pub sub: Option<Vec<Field>>,
}

impl Field {
    fn named(name: &str) -> Self {
        Field {
            name: name.to_string(),
            limit: None,
            sub: None,
        }
    }
}

/// Writes fields back in the brace form, for `fields=` in paging links.
pub(crate) fn render(fields: &[Field]) -> String {
    fields
        .iter()
        .map(|field| match &field.sub {
            Some(sub) => format!("{}{{{}}}", field.name, render(sub)),
            None => field.name.clone(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Parses a `fields=` value; the error says where the syntax broke.
pub(crate) fn parse(input: &str) -> Result<Vec<Field>, String> {
    let mut parser = Parser {
        chars: input.chars().collect(),
        at: 0,
    };
    let fields = parser.list()?;
    parser.skip_spaces();
    match parser.peek() {
        None => Ok(fields),
        Some(c) => Err(parser.syntax_error(&format!("Unexpected \"{c}\""))),
    }
}

struct Parser {
    chars: Vec<char>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn skip_spaces(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.at += 1;
        }
    }

    fn eat(&mut self, expected: char) -> bool {
        self.skip_spaces();
        if self.peek() == Some(expected) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn syntax_error(&self, what: &str) -> String {
        format!("Syntax error \"{what}\" at character {}", self.at)
    }

    /// Comma-separated items up to the end or a closing bracket; empty items are skipped.
    fn list(&mut self) -> Result<Vec<Field>, String> {
        let mut fields = Vec::new();
        loop {
            self.skip_spaces();
            if matches!(self.peek(), Some(c) if c.is_alphanumeric() || c == '_') {
                fields.push(self.field()?);
            }
            if !self.eat(',') {
                return Ok(fields);
            }
        }
    }

    fn name(&mut self) -> String {
        self.skip_spaces();
        let start = self.at;
        while self.peek().is_some_and(|c| c.is_alphanumeric() || c == '_') {
            self.at += 1;
        }
        self.chars[start..self.at].iter().collect()
    }

    fn field(&mut self) -> Result<Field, String> {
        let mut field = Field::named(&self.name());
        while self.eat('.') {
            self.modifier(&mut field)?;
        }
        if self.eat('{') {
            field.sub = Some(self.list()?);
            if !self.eat('}') {
                return Err(self.syntax_error("Expected \"}\""));
            }
        }
        Ok(field)
    }

    /// `.fields(a,b)`, `.limit(n)`; other modifiers (`.after(c)`, `.as(x)`) are accepted and ignored.
    fn modifier(&mut self, field: &mut Field) -> Result<(), String> {
        let modifier = self.name();
        if !self.eat('(') {
            return Err(self.syntax_error("Expected \"(\""));
        }
        match modifier.as_str() {
            "fields" => field.sub = Some(self.list()?),
            "limit" => {
                let value = self.name();
                let limit = value
                    .parse()
                    .map_err(|_| self.syntax_error("Expected a number"))?;
                field.limit = Some(limit);
            }
            _ => self.skip_argument(),
        }
        if self.eat(')') {
            Ok(())
        } else {
            Err(self.syntax_error("Expected \")\""))
        }
    }

    fn skip_argument(&mut self) {
        while self.peek().is_some_and(|c| c != ')') {
            self.at += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(fields: &[Field]) -> Vec<&str> {
        fields.iter().map(|f| f.name.as_str()).collect()
    }

    #[test]
    fn a_flat_list_parses_in_order() {
        let fields = parse("id, caption ,media_url").unwrap();
        assert_eq!(names(&fields), ["id", "caption", "media_url"]);
        assert!(fields.iter().all(|f| f.sub.is_none()));
    }

    #[test]
    fn the_brace_and_the_fields_forms_mean_the_same() {
        let braces = parse("id,children{media_type,media_url}").unwrap();
        let dotted = parse("id,children.fields(media_type,media_url)").unwrap();
        assert_eq!(braces, dotted);
        assert_eq!(
            names(braces[1].sub.as_deref().unwrap()),
            ["media_type", "media_url"]
        );
    }

    #[test]
    fn limit_modifiers_are_read_and_unknown_ones_ignored() {
        let fields = parse("media.limit(5).after(QVFI){id}").unwrap();
        assert_eq!(fields[0].limit, Some(5));
        assert_eq!(names(fields[0].sub.as_deref().unwrap()), ["id"]);
    }

    #[test]
    fn rendering_gives_back_the_brace_form() {
        let fields = parse("id,children.fields(id,media_url)").unwrap();
        assert_eq!(render(&fields), "id,children{id,media_url}");
    }

    #[test]
    fn trailing_commas_are_tolerated() {
        assert_eq!(names(&parse("id,,caption,").unwrap()), ["id", "caption"]);
    }

    #[test]
    fn unbalanced_brackets_are_a_syntax_error() {
        assert!(parse("children{id").is_err());
        assert!(parse("id}").is_err());
        assert!(parse("children.fields(id").is_err());
    }
}
