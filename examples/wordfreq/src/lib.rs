use std::collections::HashMap;

pub fn count(text: &str) -> Vec<(String, usize)> {
    let mut map = HashMap::new();
    for w in text.split_whitespace() {
        let w = w.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase();
        if w.len() == 0 {
            continue;
        }
        *map.entry(w).or_insert(0) += 1;
    }
    let mut v: Vec<(String, usize)> = map.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1));
    v
}

pub fn top(text: &str, n: &str) -> Vec<(String, usize)> {
    let n: usize = n.parse().unwrap();
    count(text).into_iter().take(n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts() {
        let c = count("a b a");
        assert_eq!(c[0], ("a".to_string(), 2));
    }
}
