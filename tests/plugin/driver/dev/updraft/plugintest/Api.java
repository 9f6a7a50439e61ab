package dev.updraft.plugintest;

import java.io.IOException;
import java.util.concurrent.TimeUnit;
import okhttp3.OkHttpClient;
import okhttp3.Request;
import okhttp3.Response;
import org.json.JSONArray;
import org.json.JSONException;
import org.json.JSONObject;

/** The operator's side: reads what the server recorded, through `/v1` with an API key. */
public final class Api {

    private final OkHttpClient http = new OkHttpClient.Builder().readTimeout(30, TimeUnit.SECONDS).build();
    private final String base;
    private final String key;
    private final String app;

    public Api(String base, String key, String app) {
        this.base = base;
        this.key = key;
        this.app = app;
    }

    private String get(String path) throws IOException {
        Request req = new Request.Builder().url(base + path).header("Authorization", "Bearer " + key).build();
        try (Response resp = http.newCall(req).execute()) {
            String body = resp.body() == null ? "" : resp.body().string();
            if (!resp.isSuccessful()) {
                throw new IOException("GET " + path + " answered " + resp.code() + ": " + body);
            }
            return body;
        }
    }

    /** The device's event log, oldest first. */
    public JSONArray events(String device) throws IOException, JSONException {
        return new JSONArray(get("/v1/apps/" + app + "/devices/" + device + "/events?limit=1000"));
    }

    /** Waits (the plugin flushes its stats queue every second) for an event with this action and version. */
    public JSONObject awaitEvent(String device, String action, String version, long seconds) throws Exception {
        long deadline = System.currentTimeMillis() + seconds * 1000;
        while (true) {
            JSONArray all = events(device);
            for (int i = 0; i < all.length(); i++) {
                JSONObject e = all.getJSONObject(i);
                if (action.equals(e.optString("action")) && (version == null || version.equals(e.optString("version_name")))) {
                    return e;
                }
            }
            if (System.currentTimeMillis() > deadline) {
                return null;
            }
            Thread.sleep(250);
        }
    }
}
