//! Package repositories: found on the source MN, packed onto the stick
//! (`xcat-rpms.tar`), registered on the new MN and installed from with the
//! distro's own package manager (dnf/yum, zypper, apt), also into a --root.
