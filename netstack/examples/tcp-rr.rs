//! TCP request/response latency: `tcp-rr server PORT` echoes 1-byte
//! messages; `tcp-rr client HOST:PORT N` sends N one-byte requests one at a
//! time and prints `p50_us p99_us mean_us`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("server") => {
            let l = TcpListener::bind(("0.0.0.0", args[2].parse::<u16>().unwrap())).unwrap();
            let (mut s, _) = l.accept().unwrap();
            s.set_nodelay(true).unwrap();
            let mut b = [0u8; 1];
            while s.read_exact(&mut b).is_ok() {
                if s.write_all(&b).is_err() {
                    break;
                }
            }
        }
        Some("client") => {
            let n: usize = args[3].parse().unwrap();
            let mut s = TcpStream::connect(&args[2]).unwrap();
            s.set_nodelay(true).unwrap();
            let mut b = [7u8; 1];
            for _ in 0..n / 10 {
                s.write_all(&b).unwrap();
                s.read_exact(&mut b).unwrap();
            }
            let mut lat = Vec::with_capacity(n);
            for _ in 0..n {
                let t = Instant::now();
                s.write_all(&b).unwrap();
                s.read_exact(&mut b).unwrap();
                lat.push(t.elapsed().as_nanos() as f64 / 1000.0);
            }
            let mean = lat.iter().sum::<f64>() / n as f64;
            lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
            println!("{:.1} {:.1} {:.1}", lat[n / 2], lat[n * 99 / 100], mean);
        }
        _ => {
            eprintln!("usage: tcp-rr server PORT | tcp-rr client HOST:PORT N");
            std::process::exit(2);
        }
    }
}
