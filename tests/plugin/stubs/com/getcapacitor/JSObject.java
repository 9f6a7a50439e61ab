package com.getcapacitor;

import org.json.JSONException;
import org.json.JSONObject;

/** Capacitor's JSON object: put never throws, getString answers null for a missing key. */
public class JSObject extends JSONObject {

    @Override
    public JSObject put(String key, Object value) {
        try {
            super.put(key, value);
        } catch (JSONException e) {
            // Capacitor swallows it too.
        }
        return this;
    }

    public JSObject put(String key, boolean value) {
        return put(key, (Object) value);
    }

    public JSObject put(String key, int value) {
        return put(key, (Object) value);
    }

    public JSObject put(String key, long value) {
        return put(key, (Object) value);
    }

    public JSObject put(String key, double value) {
        return put(key, (Object) value);
    }

    @Override
    public String getString(String key) {
        return optString(key, null);
    }
}
