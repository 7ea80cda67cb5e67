//! What the locals of one body are bound to, as a persistent table.
//!
//! Elaboration derives an environment from another at every reduction (its variables), call
//! (its parameters) and `diff` (its marker), and both stay alive. Copying the whole table each
//! time made a body with many reductions quadratic (20,000 `sum(i) u[i]` terms: 5.4 s).
//! [`Table`] is a 16-way trie over local ids whose missing branches are unset: binding one
//! local copies one path of at most 16 entries a level and shares the rest, and a lookup walks
//! one path, so both cost O(log n) in the number of locals.
//!
//! Example: a table of 300 locals is a trie of height 2; binding local 299 copies three nodes.

use std::sync::Arc;

const BITS: u32 = 4;
const WIDTH: usize = 1 << BITS;

/// A persistent array indexed by local, every entry `T::default()` until set.
#[derive(Clone)]
pub(super) struct Table<T> {
    root: Option<Arc<Branch<T>>>,
    /// Levels of inner nodes above the leaves: the table covers ids below 16^(height + 1).
    height: u32,
}

enum Branch<T> {
    Inner([Option<Arc<Branch<T>>>; WIDTH]),
    Leaf([T; WIDTH]),
}

impl<T: Clone + Default> Table<T> {
    /// A table of `len` unset entries; costs nothing until entries are set.
    pub fn new(len: usize) -> Self {
        let mut height = 0;
        while (WIDTH as u128).pow(height + 1) < len as u128 {
            height += 1;
        }
        Table { root: None, height }
    }

    /// The entry of `id`, or `None` while it is unset.
    pub fn get(&self, id: usize) -> Option<&T> {
        let mut node = self.root.as_deref()?;
        for level in (1..=self.height).rev() {
            match node {
                Branch::Inner(children) => node = children[slot(id, level)].as_deref()?,
                Branch::Leaf(_) => unreachable!("leaves are at level 0"),
            }
        }
        match node {
            Branch::Leaf(entries) => Some(&entries[slot(id, 0)]),
            Branch::Inner(_) => unreachable!("inner nodes are above level 0"),
        }
    }

    /// This table with `id` set to `value`; `self` is unchanged and shares all but one path.
    pub fn set(&self, id: usize, value: T) -> Self {
        Table { root: Some(set_in(self.root.as_deref(), self.height, id, value)), height: self.height }
    }
}

fn slot(id: usize, level: u32) -> usize {
    (id >> (BITS * level)) & (WIDTH - 1)
}

/// A copy of `node` (an empty one where it is missing) at `level` with `id` set.
fn set_in<T: Clone + Default>(node: Option<&Branch<T>>, level: u32, id: usize, value: T) -> Arc<Branch<T>> {
    let branch = if level == 0 {
        let mut entries = match node {
            Some(Branch::Leaf(entries)) => entries.clone(),
            _ => std::array::from_fn(|_| T::default()),
        };
        entries[slot(id, 0)] = value;
        Branch::Leaf(entries)
    } else {
        let mut children = match node {
            Some(Branch::Inner(children)) => children.clone(),
            _ => std::array::from_fn(|_| None),
        };
        let child = &mut children[slot(id, level)];
        *child = Some(set_in(child.as_deref(), level - 1, id, value));
        Branch::Inner(children)
    };
    Arc::new(branch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_shares_and_leaves_the_original_alone() {
        let empty: Table<u32> = Table::new(5000);
        assert_eq!(empty.height, 3);
        let mut tables = vec![empty.clone()];
        for id in (0..5000).step_by(7) {
            let next = tables.last().expect("one table").set(id, id as u32 + 1);
            tables.push(next);
        }
        let full = tables.last().expect("one table");
        for id in 0..5000 {
            let want = (id % 7 == 0).then_some(id as u32 + 1);
            assert_eq!(full.get(id).copied().filter(|v| *v != 0), want, "{id}");
        }
        assert_eq!(empty.get(4999), None);
        assert_eq!(tables[1].get(0), Some(&1));
        assert_eq!(tables[1].get(7).copied().filter(|v| *v != 0), None);
    }

    #[test]
    fn a_small_table_is_one_leaf() {
        let table: Table<u8> = Table::new(16).set(15, 9);
        assert_eq!(table.height, 0);
        assert_eq!(table.get(15), Some(&9));
    }
}
