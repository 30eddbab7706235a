
/*
 * On-disk ZIP record layouts used by ngx_export_zip.c (PKWARE APPNOTE 6.3).
 *
 * All multi-byte fields are little-endian and are written byte by byte,
 * so no structure here is ever overlaid on a buffer.  Offsets are relative
 * to the start of the record.
 */


#ifndef _NGX_EXPORT_ZIP_FORMAT_H_INCLUDED_
#define _NGX_EXPORT_ZIP_FORMAT_H_INCLUDED_


/* "magic" values that trigger ZIP64 handling */
#define EXZ_MAX16                   0xffffU
#define EXZ_MAX32                   0xffffffffULL


/* values common to several records */
#define EXZ_VERSION_DEFAULT         20      /* 2.0: deflate, folders */
#define EXZ_VERSION_ZIP64           45      /* 4.5: ZIP64 extensions */
#define EXZ_MADE_BY                 0x033f  /* host 3 (Unix), spec 6.3 */
#define EXZ_METHOD_STORE            0
#define EXZ_METHOD_DEFLATE          8
#define EXZ_FLAG_DESCRIPTOR         0x0008  /* bit 3: data descriptor */
#define EXZ_FLAG_UTF8               0x0800  /* bit 11: names are UTF-8 */
#define EXZ_FLAG_DEFLATE_MAX        0x0002  /* bits 1-2 for method 8 */
#define EXZ_FLAG_DEFLATE_FAST       0x0004
#define EXZ_FLAG_DEFLATE_SUPERFAST  0x0006
#define EXZ_EXTERNAL_ATTR           0x81a40000UL  /* S_IFREG|0644 << 16 */


/*
 * Local file header, followed by the name and the extra field.
 *
 * exz writes CRC and sizes as zeroes first and rewrites them in place with
 * pwrite() (or in its output buffer) when the entry ends; bit 3 is never
 * set.  The local extra field is always EXZ_LFH_EXTRA_SIZE bytes:
 * a 20-byte reserved slot (a growth hint field, or the ZIP64 field once the
 * entry turns out to need it) followed by the extended timestamp field.
 */

#define EXZ_LFH_SIG                 0x04034b50UL
#define EXZ_LFH_SIZE                30
#define EXZ_LFH_SIGNATURE           0       /* 4 */
#define EXZ_LFH_VERSION_NEEDED      4       /* 2 */
#define EXZ_LFH_FLAGS               6       /* 2 */
#define EXZ_LFH_METHOD              8       /* 2 */
#define EXZ_LFH_DOS_TIME            10      /* 2 */
#define EXZ_LFH_DOS_DATE            12      /* 2 */
#define EXZ_LFH_CRC32               14      /* 4 */
#define EXZ_LFH_CSIZE               18      /* 4, 0xffffffff: see ZIP64 */
#define EXZ_LFH_USIZE               22      /* 4, 0xffffffff: see ZIP64 */
#define EXZ_LFH_NAME_LEN            26      /* 2 */
#define EXZ_LFH_EXTRA_LEN           28      /* 2 */
#define EXZ_LFH_NAME                30      /* name_len bytes, then extra */

#define EXZ_LFH_EXTRA_SIZE          (EXZ_RESERVED_SIZE + EXZ_UT_LFH_SIZE)


/*
 * Central directory file header, followed by the name, the extra field
 * (ZIP64 field if needed, then the extended timestamp) and no comment.
 */

#define EXZ_CDH_SIG                 0x02014b50UL
#define EXZ_CDH_SIZE                46
#define EXZ_CDH_SIGNATURE           0       /* 4 */
#define EXZ_CDH_VERSION_MADE_BY     4       /* 2 */
#define EXZ_CDH_VERSION_NEEDED      6       /* 2 */
#define EXZ_CDH_FLAGS               8       /* 2 */
#define EXZ_CDH_METHOD              10      /* 2 */
#define EXZ_CDH_DOS_TIME            12      /* 2 */
#define EXZ_CDH_DOS_DATE            14      /* 2 */
#define EXZ_CDH_CRC32               16      /* 4 */
#define EXZ_CDH_CSIZE               20      /* 4, 0xffffffff: see ZIP64 */
#define EXZ_CDH_USIZE               24      /* 4, 0xffffffff: see ZIP64 */
#define EXZ_CDH_NAME_LEN            28      /* 2 */
#define EXZ_CDH_EXTRA_LEN           30      /* 2 */
#define EXZ_CDH_COMMENT_LEN         32      /* 2 */
#define EXZ_CDH_DISK_START          34      /* 2 */
#define EXZ_CDH_INTERNAL_ATTR       36      /* 2 */
#define EXZ_CDH_EXTERNAL_ATTR       38      /* 4 */
#define EXZ_CDH_LFH_OFFSET          42      /* 4, 0xffffffff: see ZIP64 */
#define EXZ_CDH_NAME                46


/*
 * Data descriptor (signature form).  Documented for completeness only:
 * exz seeks back instead, which every reader handles.
 */

#define EXZ_DD_SIG                  0x08074b50UL
#define EXZ_DD_SIZE                 16      /* 24 with ZIP64 sizes */
#define EXZ_DD_SIGNATURE            0       /* 4 */
#define EXZ_DD_CRC32                4       /* 4 */
#define EXZ_DD_CSIZE                8       /* 4 or 8 */
#define EXZ_DD_USIZE                12      /* 4 or 8 */


/* every extra field block starts with a tag and a data length */
#define EXZ_EXTRA_HDR_SIZE          4
#define EXZ_EXTRA_TAG               0       /* 2 */
#define EXZ_EXTRA_LEN               2       /* 2, not counting the header */


/*
 * ZIP64 extended information extra field (0x0001).  The 8-byte values
 * appear in this fixed order, but only those whose header field is
 * 0xffffffff; in a local header both sizes must be present.
 */

#define EXZ_ZIP64_TAG               0x0001
#define EXZ_ZIP64_LFH_SIZE          (EXZ_EXTRA_HDR_SIZE + 16)
#define EXZ_ZIP64_CDH_MAX_SIZE      (EXZ_EXTRA_HDR_SIZE + 24)
/* order: uncompressed size, compressed size, local header offset, disk */


/*
 * Reserved slot in every local header.  Until the entry turns out to need
 * ZIP64 it holds a "growth hint" field (0xa220, registered in APPNOTE 4.6
 * for exactly this purpose: space set aside in a local header to be
 * rewritten in place); readers skip it.  Its size equals the local ZIP64
 * field, so the switch never moves the entry data.
 */

#define EXZ_HINT_TAG                0xa220
#define EXZ_HINT_SIG                0xa028
#define EXZ_RESERVED_SIZE           EXZ_ZIP64_LFH_SIZE
#define EXZ_HINT_SIGNATURE          4       /* 2 */
#define EXZ_HINT_PADVAL             6       /* 2, then zero padding */


/*
 * Extended timestamp extra field (0x5455, Info-ZIP "UT"): flags byte with
 * bit 0 (mtime present) and a 32-bit Unix mtime, in both headers.
 */

#define EXZ_UT_TAG                  0x5455
#define EXZ_UT_FLAG_MTIME           0x01
#define EXZ_UT_LFH_SIZE             (EXZ_EXTRA_HDR_SIZE + 5)
#define EXZ_UT_CDH_SIZE             (EXZ_EXTRA_HDR_SIZE + 5)
#define EXZ_UT_FLAGS                4       /* 1 */
#define EXZ_UT_MTIME                5       /* 4 */


/*
 * ZIP64 end of central directory record, written (followed by its locator)
 * only when the archive needs ZIP64.
 */

#define EXZ_Z64EOCD_SIG             0x06064b50UL
#define EXZ_Z64EOCD_SIZE            56
#define EXZ_Z64EOCD_SIGNATURE       0       /* 4 */
#define EXZ_Z64EOCD_RECORD_SIZE     4       /* 8, size - 12 */
#define EXZ_Z64EOCD_VERSION_MADE_BY 12      /* 2 */
#define EXZ_Z64EOCD_VERSION_NEEDED  14      /* 2 */
#define EXZ_Z64EOCD_DISK            16      /* 4 */
#define EXZ_Z64EOCD_CD_DISK         20      /* 4 */
#define EXZ_Z64EOCD_DISK_ENTRIES    24      /* 8 */
#define EXZ_Z64EOCD_ENTRIES         32      /* 8 */
#define EXZ_Z64EOCD_CD_SIZE         40      /* 8 */
#define EXZ_Z64EOCD_CD_OFFSET       48      /* 8 */


/* ZIP64 end of central directory locator */

#define EXZ_Z64LOC_SIG              0x07064b50UL
#define EXZ_Z64LOC_SIZE             20
#define EXZ_Z64LOC_SIGNATURE        0       /* 4 */
#define EXZ_Z64LOC_DISK             4       /* 4 */
#define EXZ_Z64LOC_OFFSET           8       /* 8 */
#define EXZ_Z64LOC_DISKS            16      /* 4 */


/*
 * End of central directory record, always last, no comment.  With ZIP64
 * the fields that do not fit hold 0xffff/0xffffffff.
 */

#define EXZ_EOCD_SIG                0x06054b50UL
#define EXZ_EOCD_SIZE               22
#define EXZ_EOCD_SIGNATURE          0       /* 4 */
#define EXZ_EOCD_DISK               4       /* 2 */
#define EXZ_EOCD_CD_DISK            6       /* 2 */
#define EXZ_EOCD_DISK_ENTRIES       8       /* 2 */
#define EXZ_EOCD_ENTRIES            10      /* 2 */
#define EXZ_EOCD_CD_SIZE            12      /* 4 */
#define EXZ_EOCD_CD_OFFSET          16      /* 4 */
#define EXZ_EOCD_COMMENT_LEN        20      /* 2 */


#endif /* _NGX_EXPORT_ZIP_FORMAT_H_INCLUDED_ */
