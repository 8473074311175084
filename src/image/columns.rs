//! Column names of the tables an image bundle carries, as xCAT's schema
//! defines them (spec/schema.json). manifest.xml elements are exactly these
//! names, so the manifest reader checks against them without needing the
//! database layer.

/// `osimage` columns.
pub const OSIMAGE: &[&str] = &[
    "imagename",
    "groups",
    "profile",
    "imagetype",
    "description",
    "provmethod",
    "rootfstype",
    "nfsrootopts",
    "osdistroname",
    "osupdatename",
    "cfmdir",
    "osname",
    "osvers",
    "osarch",
    "synclists",
    "postscripts",
    "postbootscripts",
    "serverrole",
    "isdeletable",
    "kitcomponents",
    "environvar",
    "comments",
    "disable",
];

/// `linuximage` columns.
pub const LINUXIMAGE: &[&str] = &[
    "imagename",
    "template",
    "boottarget",
    "addkcmdline",
    "pkglist",
    "pkgdir",
    "otherpkglist",
    "otherpkgdir",
    "exlist",
    "postinstall",
    "rootimgdir",
    "kerneldir",
    "nodebootif",
    "otherifce",
    "netdrivers",
    "kernelver",
    "krpmver",
    "permission",
    "dump",
    "crashkernelsize",
    "partitionfile",
    "driverupdatesrc",
    "comments",
    "disable",
];

/// `kit` columns.
pub const KIT: &[&str] = &[
    "kitname",
    "basename",
    "description",
    "version",
    "release",
    "ostype",
    "isinternal",
    "kitdeployparams",
    "kitdir",
    "comments",
    "disable",
];

/// `kitrepo` columns.
pub const KITREPO: &[&str] = &[
    "kitreponame",
    "kitname",
    "osbasename",
    "osmajorversion",
    "osminorversion",
    "osarch",
    "compat_osbasenames",
    "kitrepodir",
    "comments",
    "disable",
];

/// `kitcomponent` columns.
pub const KITCOMPONENT: &[&str] = &[
    "kitcompname",
    "description",
    "kitname",
    "kitreponame",
    "basename",
    "version",
    "release",
    "serverroles",
    "kitpkgdeps",
    "prerequisite",
    "driverpacks",
    "kitcompdeps",
    "postbootscripts",
    "genimage_postinstall",
    "exlist",
    "comments",
    "disable",
];

/// `litefile` columns.
pub const LITEFILE: &[&str] = &["image", "file", "options", "comments", "disable"];
