/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * keystone.c — a Keystone v3 token (POST /v3/auth/tokens) and the image
 * endpoint from its service catalog.
 */
#include "openstack.h"
#include "session.h"

#include <string.h>

void vmf_os_auth_clear(VmfOsAuth *a)
{
    char **secrets[] = {&a->password, &a->application_credential_secret, &a->token};
    for (size_t i = 0; i < G_N_ELEMENTS(secrets); i++) {
        if (*secrets[i])
            explicit_bzero(*secrets[i], strlen(*secrets[i]));
    }
    char **all[] = {&a->cloud,
                    &a->auth_type,
                    &a->auth_url,
                    &a->username,
                    &a->user_id,
                    &a->user_domain_name,
                    &a->user_domain_id,
                    &a->password,
                    &a->project_name,
                    &a->project_id,
                    &a->project_domain_name,
                    &a->project_domain_id,
                    &a->domain_name,
                    &a->domain_id,
                    &a->application_credential_id,
                    &a->application_credential_name,
                    &a->application_credential_secret,
                    &a->token,
                    &a->region_name,
                    &a->interface,
                    &a->cacert,
                    &a->image_endpoint};
    for (size_t i = 0; i < G_N_ELEMENTS(all); i++)
        g_clear_pointer(all[i], g_free);
}

void vmf_os_session_free(VmfOsSession *s)
{
    if (!s)
        return;
    if (s->token)
        explicit_bzero(s->token, strlen(s->token));
    g_free(s->token);
    g_free(s->image_url);
    g_free(s->project_id);
    g_free(s->label);
    vmf_http_free(s->http);
    g_free(s);
}

const char *vmf_os_image_url(const VmfOsSession *s)
{
    return s->image_url;
}

/* {"name": N, "domain": {"name"|"id": D}} or {"id": ID}: a user or project. */
static void named(JsonBuilder *b, const char *id, const char *name, const char *dom_name,
                  const char *dom_id)
{
    if (id) {
        json_builder_set_member_name(b, "id");
        json_builder_add_string_value(b, id);
        return;
    }
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, name);
    json_builder_set_member_name(b, "domain");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, dom_name ? "name" : "id");
    json_builder_add_string_value(b, dom_name ? dom_name : dom_id ? dom_id : "default");
    json_builder_end_object(b);
}

static void identity_password(JsonBuilder *b, const VmfOsAuth *a)
{
    json_builder_set_member_name(b, "password");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "user");
    json_builder_begin_object(b);
    named(b, a->user_id, a->username, a->user_domain_name ? a->user_domain_name : a->domain_name,
          a->user_domain_id ? a->user_domain_id : a->domain_id);
    json_builder_set_member_name(b, "password");
    json_builder_add_string_value(b, a->password);
    json_builder_end_object(b);
    json_builder_end_object(b);
}

static void identity_app_credential(JsonBuilder *b, const VmfOsAuth *a)
{
    json_builder_set_member_name(b, "application_credential");
    json_builder_begin_object(b);
    if (a->application_credential_id) {
        json_builder_set_member_name(b, "id");
        json_builder_add_string_value(b, a->application_credential_id);
    } else {
        json_builder_set_member_name(b, "name");
        json_builder_add_string_value(b, a->application_credential_name);
        json_builder_set_member_name(b, "user");
        json_builder_begin_object(b);
        named(b, a->user_id, a->username, a->user_domain_name, a->user_domain_id);
        json_builder_end_object(b);
    }
    json_builder_set_member_name(b, "secret");
    json_builder_add_string_value(b, a->application_credential_secret);
    json_builder_end_object(b);
}

static void scope(JsonBuilder *b, const VmfOsAuth *a)
{
    if (!a->project_id && !a->project_name)
        return; /* the user's default project (an application credential's own) */
    json_builder_set_member_name(b, "scope");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "project");
    json_builder_begin_object(b);
    named(b, a->project_id, a->project_name,
          a->project_domain_name ? a->project_domain_name : a->domain_name,
          a->project_domain_id ? a->project_domain_id : a->domain_id);
    json_builder_end_object(b);
    json_builder_end_object(b);
}

/* The request body; it holds the secret (wiped by the caller). */
static char *auth_body(const VmfOsAuth *a, const char *method)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "auth");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "identity");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "methods");
    json_builder_begin_array(b);
    json_builder_add_string_value(b, method);
    json_builder_end_array(b);
    if (strcmp(method, "password") == 0) {
        identity_password(b, a);
    } else if (strcmp(method, "application_credential") == 0) {
        identity_app_credential(b, a);
    } else {
        json_builder_set_member_name(b, "token");
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "id");
        json_builder_add_string_value(b, a->token);
        json_builder_end_object(b);
    }
    json_builder_end_object(b);
    if (strcmp(method, "application_credential"))
        scope(b, a);
    json_builder_end_object(b);
    json_builder_end_object(b);
    g_autoptr(JsonGenerator) g = json_generator_new();
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    json_generator_set_root(g, root);
    return json_generator_to_data(g, NULL);
}

/* What the auth type needs, named when missing; the Keystone method. */
static const char *auth_method(const VmfOsAuth *a, const char *where, GError **error)
{
    const char *t = a->auth_type ? a->auth_type : "password";
    const char *method = NULL, *missing = NULL;
    if (strcmp(t, "password") == 0 || strcmp(t, "v3password") == 0) {
        method = "password";
        missing = !a->username && !a->user_id ? "username" : !a->password ? "password" : NULL;
    } else if (strcmp(t, "v3applicationcredential") == 0 ||
               strcmp(t, "applicationcredential") == 0) {
        method = "application_credential";
        missing = !a->application_credential_id && !a->application_credential_name
                      ? "application_credential_id"
                  : !a->application_credential_secret ? "application_credential_secret"
                                                      : NULL;
    } else if (strcmp(t, "token") == 0 || strcmp(t, "v3token") == 0) {
        method = "token";
        missing = !a->token ? "token" : NULL;
    } else {
        g_set_error(error, vmf_http_error_quark(), 400,
                    "%s: auth_type %s is not one vmforge speaks (password, "
                    "v3applicationcredential, token)",
                    where, t);
        return NULL;
    }
    if (!a->auth_url)
        missing = "auth_url";
    if (missing) {
        g_set_error(error, vmf_http_error_quark(), 400, "%s: no %s for auth_type %s", where,
                    missing, t);
        return NULL;
    }
    return method;
}

/* auth_url with /v3 (clouds.yaml often gives the bare service root). */
static char *tokens_url(const char *auth_url)
{
    g_autofree char *u = g_strdup(auth_url);
    while (*u && u[strlen(u) - 1] == '/')
        u[strlen(u) - 1] = 0;
    if (g_str_has_suffix(u, "/v3"))
        return g_strdup_printf("%s/auth/tokens", u);
    return g_strdup_printf("%s/v3/auth/tokens", u);
}

static bool endpoint_matches(JsonObject *ep, const char *interface, const char *region)
{
    const char *i = json_object_get_string_member_with_default(ep, "interface", "");
    if (strcmp(i, interface))
        return false;
    if (!region)
        return true;
    const char *r = json_object_get_string_member_with_default(ep, "region_id", NULL);
    if (!r)
        r = json_object_get_string_member_with_default(ep, "region", "");
    return strcmp(r, region) == 0;
}

/* The image service's URL for the interface and region asked. */
static char *catalog_image_url(JsonObject *token, const VmfOsAuth *a, const char *label,
                               GError **error)
{
    g_autofree char *interface = g_strdup(a->interface && *a->interface ? a->interface : "public");
    if (g_str_has_suffix(interface, "URL")) /* publicURL, as keystone v2 said it */
        interface[strlen(interface) - 3] = 0;
    JsonArray *cat = json_object_get_array_member(token, "catalog");
    for (guint i = 0; cat && i < json_array_get_length(cat); i++) {
        JsonObject *svc = json_array_get_object_element(cat, i);
        if (!svc || g_strcmp0(json_object_get_string_member_with_default(svc, "type", ""), "image"))
            continue;
        JsonArray *eps = json_object_get_array_member(svc, "endpoints");
        for (guint j = 0; eps && j < json_array_get_length(eps); j++) {
            JsonObject *ep = json_array_get_object_element(eps, j);
            if (ep && endpoint_matches(ep, interface, a->region_name))
                return g_strdup(json_object_get_string_member_with_default(ep, "url", ""));
        }
    }
    g_set_error(error, vmf_http_error_quark(), 404,
                "%s: the service catalog has no image (Glance) endpoint for interface %s%s%s",
                label, interface, a->region_name ? " in region " : "",
                a->region_name ? a->region_name : "");
    return NULL;
}

/* "http://host:9292/v2/" -> "http://host:9292". */
static char *image_root(const char *url)
{
    g_autofree char *u = g_strdup(url);
    for (;;) {
        size_t n = strlen(u);
        if (n && u[n - 1] == '/')
            u[n - 1] = 0;
        else if (g_str_has_suffix(u, "/v2"))
            u[n - 3] = 0;
        else
            return g_steal_pointer(&u);
    }
}

static int read_token(VmfOsSession *s, const VmfOsAuth *a, VmfHttpResponse *r, GError **error)
{
    g_autoptr(JsonParser) p = json_parser_new();
    JsonObject *token = NULL;
    if (json_parser_load_from_data(p, r->body, -1, NULL) &&
        JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p)))
        token =
            json_object_get_object_member(json_node_get_object(json_parser_get_root(p)), "token");
    if (!token || !r->subject_token) {
        g_set_error(error, vmf_http_error_quark(), 502,
                    "%s: Keystone at %s answered without a token", s->label, a->auth_url);
        return -1;
    }
    s->token = g_strdup(r->subject_token);
    JsonObject *project = json_object_get_object_member(token, "project");
    s->project_id =
        g_strdup(project ? json_object_get_string_member_with_default(project, "id", NULL) : NULL);
    g_autofree char *url = a->image_endpoint ? g_strdup(a->image_endpoint)
                                             : catalog_image_url(token, a, s->label, error);
    if (!url)
        return -1;
    s->image_url = image_root(url);
    return 0;
}

VmfOsSession *vmf_os_login(const VmfOsAuth *a, const volatile int *cancel, GError **error)
{
    g_autoptr(VmfOsSession) s = g_new0(VmfOsSession, 1);
    s->label = a->cloud ? g_strdup_printf("cloud %s", a->cloud) : g_strdup("the OS_* environment");
    const char *method = auth_method(a, s->label, error);
    if (!method)
        return NULL;
    VmfHttpOptions ho = {.cacert = a->cacert, .insecure = a->insecure};
    s->http = vmf_http_new(&ho);
    g_autofree char *url = tokens_url(a->auth_url);
    char *body = auth_body(a, method);
    VmfHttpRequest rq = {.method = "POST",
                         .url = url,
                         .ctype = "application/json",
                         .body = body,
                         .retry = true,
                         .cancel = cancel};
    GError *e = NULL;
    g_autoptr(VmfHttpResponse) r = vmf_http_call(s->http, &rq, &e);
    explicit_bzero(body, strlen(body));
    g_free(body);
    if (!r) {
        g_set_error(error, vmf_http_error_quark(), e->code, "%s: Keystone refused: %s%s", s->label,
                    e->message, e->code == 401 ? " (check the user, password or credential)" : "");
        g_error_free(e);
        return NULL;
    }
    if (read_token(s, a, r, error) < 0)
        return NULL;
    return g_steal_pointer(&s);
}
