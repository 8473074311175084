//! Criterion microbenchmarks for the hot loops of an export and a restore:
//! the tabdump CSV codec, SHA-256 hashing of file content as it streams, and
//! the tar entry writer on small files. `cargo bench --bench micro`.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::hint::black_box;
use std::io;
use std::path::Path;
use xcatport::db::csv::{self, Row};
use xcatport::db::schema;
use xcatport::mn::accounts::Accounts;
use xcatport::plan::{Entry, Section};
use xcatport::snapshot::hash::HashingReader;
use xcatport::snapshot::tarball::TarWriter;

const ROWS: usize = 10_000;

/// hosts rows as the fixture writes them, with one quoted value in ten.
fn host_rows(width: usize) -> Vec<Row> {
    (0..ROWS)
        .map(|i| {
            let mut r: Row = vec![
                Some(format!("n{i:05}")),
                Some(format!("10.0.{}.{}", i / 256, i % 256)),
                Some(format!("n{i:05}.cluster.example.com")),
            ];
            if i % 10 == 0 {
                r.push(Some("rack \"A\", slot 3".to_string()));
            }
            r.resize(width, None);
            r
        })
        .collect()
}

fn csv_codec(c: &mut Criterion) {
    let table = schema::table("hosts").expect("hosts is in the schema");
    let rows = host_rows(table.columns.len());
    let mut text = Vec::new();
    csv::write_header(&mut text, &table.columns).unwrap();
    for r in &rows {
        csv::write_record(&mut text, r).unwrap();
    }
    let mut group = c.benchmark_group("csv");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("write 10k hosts rows", |b| {
        let mut out = Vec::with_capacity(text.len());
        b.iter(|| {
            out.clear();
            csv::write_header(&mut out, &table.columns).unwrap();
            for r in &rows {
                csv::write_record(&mut out, r).unwrap();
            }
            black_box(out.len())
        })
    });
    group.bench_function("read 10k hosts rows", |b| {
        b.iter(|| {
            let reader = csv::Reader::new(&text[..], Path::new("hosts.csv"), table).unwrap();
            let n = reader.map(|r| r.unwrap().values.len()).sum::<usize>();
            black_box(n)
        })
    });
    group.finish();
}

fn hashing(c: &mut Criterion) {
    let data: Vec<u8> = (0..8u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut group = c.benchmark_group("sha256");
    group.throughput(Throughput::Bytes(data.len() as u64));
    group.bench_function("HashingReader 8 MiB", |b| {
        b.iter(|| {
            let mut r = HashingReader::new(&data[..]);
            io::copy(&mut r, &mut io::sink()).unwrap();
            black_box(r.finish())
        })
    });
    group.finish();
}

fn tar_entries(c: &mut Criterion) {
    let dir = tempfile::tempdir_in("/var/tmp").unwrap();
    let mut entries = Vec::new();
    let mut bytes = 0u64;
    for i in 0..500u64 {
        let rel = format!("etc/conf.d/file{i:03}.conf");
        let path = dir.path().join(&rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let size = 64 + (i * 37) % 8000;
        std::fs::write(&path, vec![b'x'; size as usize]).unwrap();
        bytes += size;
        entries.push(rel);
    }
    let accounts = Accounts::load(dir.path()).unwrap();
    let mut group = c.benchmark_group("tar");
    group.throughput(Throughput::Bytes(bytes));
    group.bench_function("append_entry 500 small files", |b| {
        b.iter_batched(
            || {
                entries
                    .iter()
                    .map(|rel| {
                        let path = dir.path().join(rel);
                        Entry {
                            meta: std::fs::symlink_metadata(&path).unwrap(),
                            rel: rel.into(),
                            path,
                            section: Section::Configuration,
                        }
                    })
                    .collect::<Vec<_>>()
            },
            |list| {
                let mut w = TarWriter::new(io::sink(), accounts.clone());
                for e in &list {
                    black_box(w.append_entry(e).unwrap());
                }
                w.finish().unwrap();
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, csv_codec, hashing, tar_entries);
criterion_main!(benches);
