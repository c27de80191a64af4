//! A slab of client slots with generations, so that a slot number plus a generation names one
//! connection for its whole life and never the next connection in the same slot.

use super::token::MAX_SLOTS;

/// Up to `capacity` values in reusable numbered slots.
#[derive(Debug)]
pub struct Slots<T> {
    items: Vec<Option<T>>,
    generations: Vec<u16>,
    free: Vec<usize>,
    len: usize,
    capacity: usize,
}

impl<T> Slots<T> {
    /// Room for `capacity` values (at most [`MAX_SLOTS`]).
    pub fn new(capacity: usize) -> Slots<T> {
        Slots {
            items: Vec::new(),
            generations: Vec::new(),
            free: Vec::new(),
            len: 0,
            capacity: capacity.min(MAX_SLOTS),
        }
    }

    /// Values held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no value is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether every slot is taken.
    pub fn is_full(&self) -> bool {
        self.len >= self.capacity
    }

    /// Stores the value `make(slot, generation)` builds; `None` when full.
    pub fn insert(&mut self, make: impl FnOnce(usize, u16) -> T) -> Option<(usize, u16)> {
        if self.is_full() {
            return None;
        }
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.items.push(None);
                self.generations.push(0);
                self.items.len() - 1
            }
        };
        let generation = self.generations[slot];
        self.items[slot] = Some(make(slot, generation));
        self.len += 1;
        Some((slot, generation))
    }

    /// The value in `slot`.
    pub fn get(&self, slot: usize) -> Option<&T> {
        self.items.get(slot).and_then(Option::as_ref)
    }

    /// The value in `slot`, mutably.
    pub fn get_mut(&mut self, slot: usize) -> Option<&mut T> {
        self.items.get_mut(slot).and_then(Option::as_mut)
    }

    /// The generation of `slot` now.
    pub fn generation(&self, slot: usize) -> Option<u16> {
        self.generations.get(slot).copied()
    }

    /// The value in `slot` if it is still the one of `generation`.
    pub fn get_checked_mut(&mut self, slot: usize, generation: u16) -> Option<&mut T> {
        if self.generation(slot) != Some(generation) {
            return None;
        }
        self.get_mut(slot)
    }

    /// Takes the value out of `slot`; the slot's generation moves on.
    pub fn remove(&mut self, slot: usize) -> Option<T> {
        let v = self.items.get_mut(slot)?.take()?;
        self.generations[slot] = self.generations[slot].wrapping_add(1);
        self.free.push(slot);
        self.len -= 1;
        Some(v)
    }

    /// The occupied slots.
    pub fn slots(&self) -> Vec<usize> {
        self.items.iter().enumerate().filter(|(_, v)| v.is_some()).map(|(i, _)| i).collect()
    }

    /// Every value.
    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.items.iter().filter_map(Option::as_ref)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generations_move_on() {
        let mut s = Slots::new(2);
        let (a, ga) = s.insert(|_, _| "a").unwrap();
        let (b, _) = s.insert(|_, _| "b").unwrap();
        assert!(s.insert(|_, _| "c").is_none());
        assert_eq!(s.remove(a), Some("a"));
        let (c, gc) = s.insert(|_, _| "c").unwrap();
        assert_eq!(c, a);
        assert_ne!(gc, ga);
        assert!(s.get_checked_mut(a, ga).is_none());
        assert_eq!(s.get_checked_mut(c, gc), Some(&mut "c"));
        assert_eq!(s.slots(), vec![a, b]);
    }
}
