//! IPv4 addresses and networks as xcatreconfig reads them from the command
//! line and from the networks table (address + dotted mask).

use std::fmt;
use std::net::Ipv4Addr;

/// An IPv4 network: the address with no host bits, and the prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Net {
    pub addr: u32,
    pub len: u8,
}

/// Parses a dotted-quad IPv4 address; nothing else (no leading zeros games,
/// no shorthand) is accepted.
pub fn parse_ip(text: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = text.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    let mut octets = [0u8; 4];
    for (o, p) in octets.iter_mut().zip(&parts) {
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *o = p.parse().ok()?;
    }
    Some(Ipv4Addr::from(octets))
}

impl Net {
    /// Parses `a.b.c.d/len`; `Err` says what is wrong in words.
    pub fn parse_cidr(text: &str) -> Result<Net, String> {
        let bad = || format!("{text} is not a network in CIDR form (a.b.c.d/len, len 0-32)");
        let (ip, len) = text.split_once('/').ok_or_else(bad)?;
        let ip = parse_ip(ip).ok_or_else(bad)?;
        if len.is_empty() || len.len() > 2 || !len.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let len: u8 = len.parse().map_err(|_| bad())?;
        if len > 32 {
            return Err(bad());
        }
        let net = Net {
            addr: u32::from(ip) & mask_bits(len),
            len,
        };
        if net.addr != u32::from(ip) {
            return Err(format!("{text} has host bits set; the network is {net}"));
        }
        Ok(net)
    }

    /// The network of an address and a dotted mask (a networks table row);
    /// None when the mask is not contiguous.
    pub fn from_mask(addr: Ipv4Addr, mask: Ipv4Addr) -> Option<Net> {
        let m = u32::from(mask);
        let len = m.leading_ones();
        if m.checked_shl(len).unwrap_or(0) != 0 {
            return None;
        }
        let len = len as u8;
        Some(Net {
            addr: u32::from(addr) & mask_bits(len),
            len,
        })
    }

    /// Number of addresses in the network.
    pub fn size(&self) -> u64 {
        1u64 << (32 - u32::from(self.len))
    }

    pub fn mask(&self) -> Ipv4Addr {
        Ipv4Addr::from(mask_bits(self.len))
    }

    pub fn address(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.addr)
    }

    pub fn contains(&self, ip: u32) -> bool {
        ip & mask_bits(self.len) == self.addr
    }

    /// Whether two networks share any address.
    pub fn overlaps(&self, other: &Net) -> bool {
        let len = self.len.min(other.len);
        self.addr & mask_bits(len) == other.addr & mask_bits(len)
    }

    /// xCAT's default netname for the network (`10_0_0_0-255_255_0_0`).
    pub fn netname(&self) -> String {
        format!("{}-{}", self.address(), self.mask()).replace('.', "_")
    }

    /// The address at `offset` from the network address.
    pub fn at(&self, offset: u64) -> Option<Ipv4Addr> {
        (offset < self.size()).then(|| Ipv4Addr::from(self.addr + offset as u32))
    }
}

impl fmt::Display for Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address(), self.len)
    }
}

fn mask_bits(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_addresses_strictly() {
        assert_eq!(parse_ip("10.0.0.1"), Some(Ipv4Addr::new(10, 0, 0, 1)));
        for bad in [
            "10.0.0",
            "10.0.0.256",
            "10.0.0.1.2",
            "a.b.c.d",
            "10..0.1",
            "1000.0.0.1",
            "",
        ] {
            assert_eq!(parse_ip(bad), None, "{bad}");
        }
    }

    #[test]
    fn cidr_parsing_and_geometry() {
        let n = Net::parse_cidr("10.0.0.0/16").unwrap();
        assert_eq!(n.size(), 65536);
        assert_eq!(n.mask().to_string(), "255.255.0.0");
        assert_eq!(n.netname(), "10_0_0_0-255_255_0_0");
        assert!(n.contains(u32::from(Ipv4Addr::new(10, 0, 200, 1))));
        assert!(!n.contains(u32::from(Ipv4Addr::new(10, 1, 0, 1))));
        assert_eq!(
            Net::parse_cidr("10.0.0.5/16").unwrap_err(),
            "10.0.0.5/16 has host bits set; the network is 10.0.0.0/16"
        );
        assert!(Net::parse_cidr("10.0.0.0/33").is_err());
        assert!(Net::parse_cidr("10.0.0.0").is_err());
        let m = Net::from_mask(Ipv4Addr::new(10, 0, 0, 0), Ipv4Addr::new(255, 255, 0, 0));
        assert_eq!(m, Some(n));
        assert_eq!(
            Net::from_mask(Ipv4Addr::new(10, 0, 0, 0), Ipv4Addr::new(255, 0, 255, 0)),
            None
        );
        let big = Net::parse_cidr("10.0.0.0/8").unwrap();
        assert!(big.overlaps(&n) && n.overlaps(&big));
        assert!(!n.overlaps(&Net::parse_cidr("10.1.0.0/16").unwrap()));
    }
}
