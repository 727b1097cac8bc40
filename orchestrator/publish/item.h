/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * item.h — what the publish pipeline shares between its files (this folder
 * only): the images to send, the destinations, and what each send did.
 */
#pragma once

#include "openstack/openstack.h"
#include "publish.h"

#include <glib.h>
#include <json-glib/json-glib.h>

/* One image to publish. */
typedef struct {
    char *target; /* the build target, or NULL for a file given as such */
    char *path;   /* absolute */
    char *format; /* writer name: qcow2, raw, vmdk, vhd, vhdx, vdi, ova, raw.gz */
    char *sha256; /* of the whole file, from the report; NULL for a plain file */
    uint64_t virtual_size, file_size;
    char *name;            /* default image or volume name */
    JsonObject *openstack; /* the target's NAME.openstack.json, or NULL */
    char *report;          /* the report.json it came from, or NULL */
} PublishItem;
void publish_item_free(PublishItem *it);

/* The images of `inputs` (report.json files or images) that `only` selects
 * (a GPtrArray of PublishItem). NULL with *error on a bad input. */
GPtrArray *publish_items(char **inputs, const char *only, GError **error);

typedef enum { DEST_GLANCE, DEST_LIBVIRT } DestKind;

typedef struct {
    DestKind kind;
    char *text;                /* as given */
    char *cloud;               /* glance: the cloud's name, or NULL */
    char *uri, *pool, *volume; /* libvirt: URI, pool, volume name or NULL */
} PublishDest;
void publish_dest_free(PublishDest *d);
PublishDest *publish_dest_parse(const char *text, GError **error);

/* What one send did: for report.json and --json. */
typedef struct {
    char *destination, *path, *target, *name;
    char *id;     /* Glance image id, or the volume's key */
    char *url;    /* the image's API URL, or the volume's path on the host */
    char *report; /* the report.json of the image, or NULL */
    uint64_t bytes_sent;
    double seconds;
    bool reused; /* it was there already: nothing sent */
} PublishRecord;
void publish_record_free(PublishRecord *r);

/* What every send shares. */
typedef struct {
    const VmfPublishOptions *o;
    const volatile int *cancel;
} PublishRun;

/* Loads the cloud's settings (clouds.yaml, secure.yaml, OS_*). */
int publish_cloud_auth(const char *cloud, VmfOsAuth *a, GError **error);

/* Sends the item; fills *rec. Returns a VMF_EXIT_* status. */
int publish_to_glance(const PublishRun *run, VmfOsSession *s, const PublishDest *d,
                      const PublishItem *it, PublishRecord *rec, GError **error);
int publish_to_pool(const PublishRun *run, const PublishDest *d, const PublishItem *it,
                    PublishRecord *rec, GError **error);
