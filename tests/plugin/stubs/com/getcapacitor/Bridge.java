package com.getcapacitor;

/** No web view on the JVM: the plugin's log forwarding to JS is off. */
public class Bridge {

    public Object getWebView() {
        return null;
    }

    public void eval(String js, Object callback) {}
}
