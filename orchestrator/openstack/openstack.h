/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * openstack.h — the OpenStack adapter: a Keystone v3 session (password,
 * application credential or token; the image endpoint from the token's
 * catalog) and the Glance v2 calls vmforge makes. HTTP through http.h;
 * errors are translated here once and hold no secret.
 */
#pragma once

#include "http.h"

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdbool.h>

/* How to authenticate, as clouds.yaml / secure.yaml / OS_* say it. The
 * secrets (password, application_credential_secret, token) are wiped by
 * vmf_os_auth_clear. */
typedef struct {
    char *cloud;     /* its name in clouds.yaml, or NULL (environment only) */
    char *auth_type; /* password (default), v3applicationcredential, token */
    char *auth_url;
    char *username, *user_id, *user_domain_name, *user_domain_id;
    char *password;
    char *project_name, *project_id, *project_domain_name, *project_domain_id;
    char *domain_name, *domain_id; /* default domain for user and project */
    char *application_credential_id, *application_credential_name;
    char *application_credential_secret;
    char *token;
    char *region_name;
    char *interface; /* public (default), internal, admin */
    char *cacert;
    bool insecure;        /* verify: false */
    char *image_endpoint; /* image_endpoint_override, or NULL: the catalog's */
} VmfOsAuth;
void vmf_os_auth_clear(VmfOsAuth *a);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VmfOsAuth, vmf_os_auth_clear)

typedef struct VmfOsSession VmfOsSession;

/* Authenticates with Keystone and finds the image endpoint. Returns NULL
 * with *error naming the cloud, the auth URL and what Keystone said. */
VmfOsSession *vmf_os_login(const VmfOsAuth *a, const volatile int *cancel, GError **error);
void vmf_os_session_free(VmfOsSession *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmfOsSession, vmf_os_session_free)

/* The image API's root ("http://glance:9292"). */
const char *vmf_os_image_url(const VmfOsSession *s);

/* What vmforge asks for in POST /v2/images. */
typedef struct {
    const char *name, *disk_format, *container_format, *visibility;
    uint64_t min_disk, min_ram; /* GiB, MiB */
    char **tags;                /* NULL-terminated, or NULL */
    GPtrArray *prop_keys;       /* property names in order (char *) */
    GHashTable *props;          /* name -> value */
} VmfGlanceNew;

/* The image API's import methods (GET /v2/info/import): true when
 * glance-direct is one. A cloud without the call says false. */
bool vmf_glance_has_direct_import(VmfOsSession *s, const volatile int *cancel);
/* Creates the image record (status queued); returns its id (g_free). */
char *vmf_glance_create(VmfOsSession *s, const VmfGlanceNew *n, const volatile int *cancel,
                        GError **error);
/* The image, or NULL with *error (code 404 when there is none). */
JsonObject *vmf_glance_show(VmfOsSession *s, const char *id, const volatile int *cancel,
                            GError **error);
/* The images named `name` owned by the session's project (json_object_unref
 * each; g_ptr_array_unref). */
GPtrArray *vmf_glance_find(VmfOsSession *s, const char *name, const volatile int *cancel,
                           GError **error);
/* Sends the file: glance-direct (PUT .../stage, POST .../import) or
 * PUT .../file. */
int vmf_glance_upload(VmfOsSession *s, const char *id, const char *path, bool direct,
                      VmfHttpUpload *u, GError **error);
/* Deletes the image (retried); 0 also when it is already gone. */
int vmf_glance_delete(VmfOsSession *s, const char *id, GError **error);
/* Waits until the image is active (an import runs as a task) or failed;
 * returns it, or NULL with *error saying its status and why. */
JsonObject *vmf_glance_wait_active(VmfOsSession *s, const char *id, unsigned timeout_s,
                                   const volatile int *cancel, GError **error);
