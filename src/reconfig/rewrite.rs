//! Rewriting text: every IPv4 address, network, MN name, domain suffix,
//! xCAT netname and reverse-zone name in a value or a line is replaced by
//! its new form, and nothing else is touched.
//!
//! Two passes over the text. Addresses are found by shape (four dotted
//! octets not glued to letters, digits, `_` or `.`), with their CIDR
//! (`a.b.c.d/16`) and net/mask (`a.b.c.d/255.255.0.0`) forms, and a mask
//! that follows a moved network's address on the same line (`subnet N
//! netmask M`). Names are whole tokens between separators (blanks, quotes,
//! `,;:|!=(){}[]<>`); a `/` is not a separator, so paths never match.

use super::net::{parse_ip, Net};
use std::collections::HashMap;
use std::net::Ipv4Addr;

/// An address as it appears in text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    pub ip: u32,
    pub start: usize,
    pub end: usize,
}

/// Every IPv4 address in `text`, in order.
pub fn addresses(text: &str) -> Vec<Found> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let glued = i > 0 && is_glue(bytes[i - 1]);
        if !bytes[i].is_ascii_digit() || glued {
            i += 1;
            continue;
        }
        let start = i;
        let mut end = i;
        while end < bytes.len() && (bytes[end].is_ascii_digit() || bytes[end] == b'.') {
            end += 1;
        }
        // A sentence's full stop is not part of the address.
        let mut stop = end;
        if bytes[stop - 1] == b'.' {
            stop -= 1;
        }
        let free_after =
            end >= bytes.len() || !(bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_');
        if free_after {
            if let Some(ip) = parse_ip(&text[start..stop]) {
                out.push(Found {
                    ip: u32::from(ip),
                    start,
                    end: stop,
                });
            }
        }
        i = end;
    }
    out
}

fn is_glue(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'.'
}

fn is_separator(c: char) -> bool {
    c.is_whitespace() || "\"',;:|!=(){}[]<>".contains(c)
}

/// The old and new identity of the MN, for name rewriting.
#[derive(Debug, Clone, Default)]
pub struct Names {
    /// Exact replacements, keys lower case: FQDN, short name, netnames.
    pub exact: HashMap<String, String>,
    /// Domain suffix change (old, new), lower case.
    pub domain: Option<(String, String)>,
}

/// The complete rewrite: which addresses change, which networks move, and
/// the names.
#[derive(Debug, Clone, Default)]
pub struct Rewriter {
    pub ips: HashMap<u32, u32>,
    pub nets: Vec<(Net, Net)>,
    pub names: Names,
}

impl Rewriter {
    /// `text` rewritten; equal to the input when nothing in it changes.
    pub fn text(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        for (i, line) in text.split('\n').enumerate() {
            if i > 0 {
                out.push('\n');
            }
            let line = self.addresses_in(line);
            out.push_str(&self.names_in(&line));
        }
        out
    }

    fn new_ip(&self, ip: u32) -> u32 {
        self.ips.get(&ip).copied().unwrap_or(ip)
    }

    fn moved(&self, addr: u32, len: Option<u8>) -> Option<&(Net, Net)> {
        self.nets
            .iter()
            .find(|(old, _)| old.addr == addr && len.map_or(true, |l| l == old.len))
    }

    fn addresses_in(&self, line: &str) -> String {
        let found = addresses(line);
        if found.is_empty() {
            return line.to_string();
        }
        let mut out = String::with_capacity(line.len());
        let mut at = 0;
        let mut last_net: Option<(Net, Net)> = None;
        let mut skip_until = 0;
        for f in &found {
            if f.start < skip_until {
                continue;
            }
            out.push_str(&line[at..f.start]);
            at = f.end;
            let rest = &line[f.end..];
            // a.b.c.d/len and a.b.c.d/m.m.m.m of a moved network
            if let Some(after) = rest.strip_prefix('/') {
                let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
                let tail = &after[digits.len()..];
                let whole = !tail.starts_with(|c: char| c == '.' || c.is_ascii_alphanumeric());
                if !digits.is_empty() && digits.len() <= 2 && whole {
                    if let Ok(len) = digits.parse::<u8>() {
                        if let Some((_, new)) = self.moved(f.ip, Some(len)) {
                            out.push_str(&new.to_string());
                            at = f.end + 1 + digits.len();
                            skip_until = at;
                            continue;
                        }
                    }
                }
                if let Some(mask_end) = after
                    .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                    .or(Some(after.len()))
                {
                    if let Some(mask) = parse_ip(&after[..mask_end]) {
                        if let Some((old, new)) = self.moved(f.ip, None) {
                            if old.mask() == mask {
                                out.push_str(&format!("{}/{}", new.address(), new.mask()));
                                at = f.end + 1 + mask_end;
                                skip_until = at;
                                continue;
                            }
                        }
                    }
                }
            }
            if let Some((old, new)) = last_net {
                if u32::from(old.mask()) == f.ip && self.moved(f.ip, None).is_none() {
                    out.push_str(&new.mask().to_string());
                    last_net = None;
                    continue;
                }
            }
            if let Some(pair) = self.moved(f.ip, None) {
                last_net = Some(*pair);
            }
            out.push_str(&Ipv4Addr::from(self.new_ip(f.ip)).to_string());
        }
        out.push_str(&line[at..]);
        out
    }

    fn names_in(&self, line: &str) -> String {
        if self.names.exact.is_empty() && self.names.domain.is_none() && self.nets.is_empty() {
            return line.to_string();
        }
        let mut out = String::with_capacity(line.len());
        let mut token = String::new();
        for c in line.chars() {
            if is_separator(c) {
                self.flush(&mut token, &mut out);
                out.push(c);
            } else {
                token.push(c);
            }
        }
        self.flush(&mut token, &mut out);
        out
    }

    fn flush(&self, token: &mut String, out: &mut String) {
        if !token.is_empty() {
            match self.name(token) {
                Some(new) => out.push_str(&new),
                None => out.push_str(token),
            }
            token.clear();
        }
    }

    /// The new form of one name token, if it changes.
    pub fn name(&self, token: &str) -> Option<String> {
        let (body, dot) = match token.strip_suffix('.') {
            Some(b) => (b, "."),
            None => (token, ""),
        };
        if body.is_empty() {
            return None;
        }
        let lower = body.to_ascii_lowercase();
        if let Some(new) = self.names.exact.get(&lower) {
            return Some(format!("{new}{dot}"));
        }
        if let Some(new) = self.reverse_zone(body) {
            return Some(format!("{new}{dot}"));
        }
        if let Some((old, new)) = &self.names.domain {
            if lower == *old {
                return Some(format!("{new}{dot}"));
            }
            if lower.len() > old.len() + 1 && lower.ends_with(old.as_str()) {
                let cut = body.len() - old.len();
                if body.as_bytes()[cut - 1] == b'.' {
                    return Some(format!("{}{new}{dot}", &body[..cut]));
                }
            }
        }
        None
    }

    /// `0.10.in-addr.arpa` of a moved network with octet-aligned prefixes
    /// of the same length.
    fn reverse_zone(&self, body: &str) -> Option<String> {
        let lower = body.to_ascii_lowercase();
        let labels = lower.strip_suffix(".in-addr.arpa")?;
        let octets: Vec<u8> = labels
            .split('.')
            .rev()
            .map(|l| l.parse::<u8>().ok())
            .collect::<Option<Vec<u8>>>()?;
        let k = octets.len();
        if k == 0 || k > 3 {
            return None;
        }
        let mut addr = [0u8; 4];
        addr[..k].copy_from_slice(&octets);
        let addr = u32::from(Ipv4Addr::from(addr));
        let (_, new) = self.nets.iter().find(|(old, new)| {
            old.len as usize == 8 * k && new.len == old.len && old.addr == addr
        })?;
        let new_octets = new.address().octets();
        let reversed: Vec<String> = new_octets[..k].iter().rev().map(u8::to_string).collect();
        let suffix = &body[body.len() - ".in-addr.arpa".len()..];
        Some(format!("{}{suffix}", reversed.join(".")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> u32 {
        u32::from(parse_ip(s).unwrap())
    }

    fn sample() -> Rewriter {
        let old = Net::parse_cidr("10.0.0.0/16").unwrap();
        let new = Net::parse_cidr("172.20.0.0/16").unwrap();
        let mut r = Rewriter {
            nets: vec![(old, new)],
            ..Rewriter::default()
        };
        for a in [
            "10.0.0.1",
            "10.0.1.1",
            "10.0.0.0",
            "10.0.200.1",
            "10.0.200.254",
        ] {
            r.ips.insert(ip(a), ip(a) - old.addr + new.addr);
        }
        for (o, n) in [
            ("mn01.cluster.example.com", "mn02.site.org"),
            ("mn01", "mn02"),
            ("10_0_0_0-255_255_0_0", "172_20_0_0-255_255_0_0"),
        ] {
            r.names.exact.insert(o.into(), n.into());
        }
        r.names.domain = Some(("cluster.example.com".into(), "site.org".into()));
        r
    }

    #[test]
    fn finds_addresses_by_shape_only() {
        let f: Vec<u32> =
            addresses("a 10.0.0.1:/x db.10.0 v1.2.3.4 10.0.200.1-10.0.200.254. 1.2.3")
                .iter()
                .map(|f| f.ip)
                .collect();
        assert_eq!(f, [ip("10.0.0.1"), ip("10.0.200.1"), ip("10.0.200.254")]);
    }

    #[test]
    fn rewrites_addresses_networks_and_masks() {
        let r = sample();
        assert_eq!(
            r.text("10.0.0.1:/statelite/state"),
            "172.20.0.1:/statelite/state"
        );
        assert_eq!(r.text("allow 10.0.0.0/16\n"), "allow 172.20.0.0/16\n");
        assert_eq!(
            r.text("  subnet 10.0.0.0 netmask 255.255.0.0 { # 10.0.0.0/255.255.0.0 subnet_end"),
            "  subnet 172.20.0.0 netmask 255.255.0.0 { # 172.20.0.0/255.255.0.0 subnet_end"
        );
        assert_eq!(
            r.text("10.0.200.1-10.0.200.254"),
            "172.20.200.1-172.20.200.254"
        );
        assert_eq!(r.text("192.168.122.1 10.1.0.1"), "192.168.122.1 10.1.0.1");
        // a /24 target: the mask after the network changes too
        let mut small = sample();
        small.nets = vec![(
            Net::parse_cidr("10.0.0.0/16").unwrap(),
            Net::parse_cidr("172.20.0.0/24").unwrap(),
        )];
        assert_eq!(
            small.text("subnet 10.0.0.0 netmask 255.255.0.0 {"),
            "subnet 172.20.0.0 netmask 255.255.255.0 {"
        );
        assert_eq!(small.text("allow 10.0.0.0/16"), "allow 172.20.0.0/24");
    }

    #[test]
    fn rewrites_names_but_not_paths() {
        let r = sample();
        assert_eq!(
            r.text("10.0.0.1    mn01.cluster.example.com mn01"),
            "172.20.0.1    mn02.site.org mn02"
        );
        assert_eq!(
            r.text("@ IN SOA mn01.cluster.example.com. root.cluster.example.com. ("),
            "@ IN SOA mn02.site.org. root.site.org. ("
        );
        assert_eq!(r.text("/install/mn01/x mn01x"), "/install/mn01/x mn01x");
        assert_eq!(
            r.text("eth0!10_0_0_0-255_255_0_0"),
            "eth0!172_20_0_0-255_255_0_0"
        );
        assert_eq!(
            r.text("zone \"0.10.IN-ADDR.ARPA.\" in {"),
            "zone \"20.172.IN-ADDR.ARPA.\" in {"
        );
        assert_eq!(r.text("search cluster.example.com"), "search site.org");
        assert_eq!(r.text("notcluster.example.com"), "notcluster.example.com");
    }
}
