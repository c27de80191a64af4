//! Who waits for each pending query: a pool of `W` waiters linked into per-query lists, so
//! any number of resolves of one destination share one SA query and one answer.

use super::event::Token;

/// One waiter: the caller's token and the next waiter on the same query.
#[derive(Debug, Clone, Copy)]
struct Waiter {
    token: Token,
    /// Next waiter index + 1 (0: end of list; for free waiters: next free).
    next: u32,
    in_use: bool,
}

/// `W` waiters and their free list.
#[derive(Debug)]
pub(crate) struct Waiters<const W: usize> {
    items: [Waiter; W],
    /// First free waiter + 1; waiters past `high_water` were never used.
    free: u32,
    high_water: u32,
    pub len: usize,
}

impl<const W: usize> Waiters<W> {
    pub(crate) const fn new() -> Self {
        Waiters { items: [Waiter { token: 0, next: 0, in_use: false }; W], free: 0, high_water: 0, len: 0 }
    }

    /// Whether another waiter fits.
    pub(crate) fn has_room(&self) -> bool {
        self.len < W
    }

    /// Appends `token` to the list `(head, tail)`; `false` if the pool is full.
    pub(crate) fn push(&mut self, head: &mut u32, tail: &mut u32, token: Token) -> bool {
        let i = if self.free != 0 {
            let i = (self.free - 1) as usize;
            self.free = self.items[i].next;
            i
        } else if (self.high_water as usize) < W {
            self.high_water += 1;
            (self.high_water - 1) as usize
        } else {
            return false;
        };
        self.items[i] = Waiter { token, next: 0, in_use: true };
        if *tail != 0 {
            if let Some(t) = self.items.get_mut((*tail - 1) as usize) {
                t.next = i as u32 + 1;
            }
        } else {
            *head = i as u32 + 1;
        }
        *tail = i as u32 + 1;
        self.len += 1;
        true
    }

    /// Takes the first waiter of the list `(head, tail)`.
    pub(crate) fn pop(&mut self, head: &mut u32, tail: &mut u32) -> Option<Token> {
        if *head == 0 {
            return None;
        }
        let i = (*head - 1) as usize;
        let w = *self.items.get(i)?;
        *head = w.next;
        if *head == 0 {
            *tail = 0;
        }
        self.items[i] = Waiter { token: 0, next: self.free, in_use: false };
        self.free = i as u32 + 1;
        self.len -= 1;
        Some(w.token)
    }

    /// Removes the first waiter with `token` from the list `(head, tail)`.
    pub(crate) fn remove(&mut self, head: &mut u32, tail: &mut u32, token: Token) -> bool {
        let mut prev = 0u32;
        let mut at = *head;
        while at != 0 {
            let i = (at - 1) as usize;
            let Some(w) = self.items.get(i).copied() else { return false };
            if w.in_use && w.token == token {
                if prev == 0 {
                    *head = w.next;
                } else if let Some(p) = self.items.get_mut((prev - 1) as usize) {
                    p.next = w.next;
                }
                if *tail == at {
                    *tail = prev;
                }
                self.items[i] = Waiter { token: 0, next: self.free, in_use: false };
                self.free = at;
                self.len -= 1;
                return true;
            }
            prev = at;
            at = w.next;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_share_one_pool() {
        let mut w = Waiters::<4>::new();
        let (mut h1, mut t1, mut h2, mut t2) = (0, 0, 0, 0);
        assert!(w.push(&mut h1, &mut t1, 1));
        assert!(w.push(&mut h2, &mut t2, 10));
        assert!(w.push(&mut h1, &mut t1, 2));
        assert!(w.push(&mut h1, &mut t1, 3));
        assert!(!w.push(&mut h2, &mut t2, 11), "pool full");
        assert!(w.remove(&mut h1, &mut t1, 2));
        assert_eq!(w.pop(&mut h1, &mut t1), Some(1));
        assert!(w.push(&mut h2, &mut t2, 11));
        assert_eq!(w.pop(&mut h1, &mut t1), Some(3));
        assert_eq!(w.pop(&mut h1, &mut t1), None);
        assert_eq!((h1, t1), (0, 0));
        assert_eq!(w.pop(&mut h2, &mut t2), Some(10));
        assert_eq!(w.pop(&mut h2, &mut t2), Some(11));
        assert_eq!(w.len, 0);
    }
}
