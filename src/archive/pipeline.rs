//! An ordered parallel map: jobs go to a fixed set of worker threads and their results come
//! back in submission order, with a bound on how many are in flight (so memory stays constant).
//!
//! Written by hand because rayon's parallel iterators want the whole input up front, and our
//! input is a stream that a tar builder pushes into a `Write`. Depends on std and
//! crossbeam-channel only.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::thread::JoinHandle;

use crossbeam_channel::{bounded, unbounded, Receiver, Sender};

/// A worker panicked; its message, if it had one.
#[derive(Debug)]
pub struct WorkerPanic(pub String);

pub struct OrderedPool<I: Send + 'static, O: Send + 'static> {
    jobs: Option<Sender<(u64, I)>>,
    results: Receiver<(u64, Result<O, WorkerPanic>)>,
    parked: BTreeMap<u64, Result<O, WorkerPanic>>,
    next_in: u64,
    next_out: u64,
    workers: Vec<JoinHandle<()>>,
}

impl<I: Send + 'static, O: Send + 'static> OrderedPool<I, O> {
    /// Starts `threads` workers (at least one) running `work`.
    pub fn new<F>(threads: usize, work: F) -> Self
    where
        F: Fn(I) -> O + Send + Sync + 'static,
    {
        let threads = threads.max(1);
        let (job_tx, job_rx) = bounded::<(u64, I)>(threads);
        let (res_tx, res_rx) = unbounded();
        let work = std::sync::Arc::new(work);
        let workers = (0..threads)
            .map(|_| {
                let job_rx = job_rx.clone();
                let res_tx = res_tx.clone();
                let work = work.clone();
                std::thread::spawn(move || {
                    for (seq, input) in job_rx {
                        let out = catch_unwind(AssertUnwindSafe(|| work(input))).map_err(|p| {
                            let msg = p
                                .downcast_ref::<&str>()
                                .map(|s| s.to_string())
                                .or_else(|| p.downcast_ref::<String>().cloned())
                                .unwrap_or_else(|| "unknown panic".into());
                            WorkerPanic(msg)
                        });
                        if res_tx.send((seq, out)).is_err() {
                            break;
                        }
                    }
                })
            })
            .collect();
        OrderedPool { jobs: Some(job_tx), results: res_rx, parked: BTreeMap::new(), next_in: 0, next_out: 0, workers }
    }

    /// Jobs submitted whose results have not been taken yet.
    pub fn in_flight(&self) -> usize {
        (self.next_in - self.next_out) as usize
    }

    /// Queues a job; blocks while all workers are busy and the queue is full.
    pub fn submit(&mut self, input: I) {
        let seq = self.next_in;
        self.next_in += 1;
        if let Some(jobs) = &self.jobs {
            // Sending fails only if every worker is gone; `next` then reports it.
            let _ = jobs.send((seq, input));
        }
    }

    /// The next result in order if it is ready, without waiting.
    pub fn try_next(&mut self) -> Option<Result<O, WorkerPanic>> {
        while let Ok((seq, out)) = self.results.try_recv() {
            self.parked.insert(seq, out);
        }
        self.take_parked()
    }

    /// The next result in order, waiting for it; None when nothing is in flight.
    pub fn next(&mut self) -> Option<Result<O, WorkerPanic>> {
        if self.in_flight() == 0 {
            return None;
        }
        loop {
            if let Some(out) = self.take_parked() {
                return Some(out);
            }
            match self.results.recv() {
                Ok((seq, out)) => {
                    self.parked.insert(seq, out);
                }
                Err(_) => return Some(Err(WorkerPanic("all workers stopped".into()))),
            }
        }
    }

    fn take_parked(&mut self) -> Option<Result<O, WorkerPanic>> {
        let out = self.parked.remove(&self.next_out)?;
        self.next_out += 1;
        Some(out)
    }
}

impl<I: Send + 'static, O: Send + 'static> Drop for OrderedPool<I, O> {
    fn drop(&mut self) {
        self.jobs = None; // closes the queue: workers finish their job and exit
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_order() {
        let mut pool = OrderedPool::new(3, |x: u64| {
            std::thread::sleep(std::time::Duration::from_micros((x * 7919) % 500));
            x * 2
        });
        let mut got = Vec::new();
        for i in 0..200 {
            pool.submit(i);
            while pool.in_flight() > 6 {
                got.push(pool.next().unwrap().unwrap());
            }
        }
        while let Some(r) = pool.next() {
            got.push(r.unwrap());
        }
        assert_eq!(got, (0..200).map(|x| x * 2).collect::<Vec<_>>());
    }

    #[test]
    fn a_panicking_job_is_reported_not_hung() {
        let mut pool = OrderedPool::new(2, |x: u32| {
            if x == 1 {
                panic!("boom");
            }
            x
        });
        for i in 0..4 {
            pool.submit(i);
        }
        assert_eq!(pool.next().unwrap().unwrap(), 0);
        assert_eq!(pool.next().unwrap().unwrap_err().0, "boom");
        assert_eq!(pool.next().unwrap().unwrap(), 2);
    }
}
