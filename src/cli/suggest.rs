//! "Did you mean": endpoint names near a mistyped one.

/// Edit distance (insertions, deletions, substitutions, and swaps of two neighbours), on
/// lowercase characters, so `getdata`, `get_dat` and `gte_data` all land near `get_data`.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    // Full matrix for the transposition rule; names are short, and callers cap their length.
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// Longest name compared (longer ones are cut, so a hostile name costs little).
const MAX_LEN: usize = 128;

/// The names near `wanted`, nearest first, at most five: within a third of its length in
/// edits (at least two), or containing it / contained in it, ignoring case.
pub(crate) fn near<'a>(wanted: &str, names: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let cut = |s: &str| s.chars().take(MAX_LEN).collect::<String>();
    let w = cut(wanted);
    let wl = w.to_lowercase();
    let limit = (w.chars().count() / 3).max(2);
    let mut scored: Vec<(usize, &str)> = names
        .into_iter()
        .filter_map(|name| {
            let n = cut(name);
            let nl = n.to_lowercase();
            let d = distance(&w, &n);
            let related = !wl.is_empty() && (nl.contains(&wl) || wl.contains(&nl));
            (d <= limit || related).then_some((d, name))
        })
        .collect();
    scored.sort();
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().take(5).map(|(_, n)| n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: [&str; 6] = [
        "my_function",
        "my_long_function",
        "rpcExample",
        "asyncRPCExample",
        "get_data",
        "getData",
    ];

    #[test]
    fn distances() {
        assert_eq!(distance("abc", "abc"), 0);
        assert_eq!(distance("abc", "acb"), 1);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("GetData", "getdata"), 0);
        assert_eq!(distance("kitten", "sitting"), 3);
    }

    #[test]
    fn typos_find_their_endpoint() {
        assert_eq!(near("my_functon", NAMES)[0], "my_function");
        assert_eq!(near("getdata", NAMES), vec!["getData", "get_data"]);
        assert_eq!(near("rpcexample", NAMES)[0], "rpcExample");
        assert!(near("Example", NAMES).contains(&"asyncRPCExample"));
        assert!(near("zzzzzzzz", NAMES).is_empty());
        assert!(near(&"x".repeat(100_000), NAMES).is_empty());
    }
}
