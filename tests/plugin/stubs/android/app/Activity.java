package android.app;

import android.content.Context;
import androidx.lifecycle.LifecycleOwner;
import java.io.File;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/** The app's activity: a context with a UI thread (one thread, like Android's main looper). */
public class Activity extends Context implements LifecycleOwner {

    private final ExecutorService ui = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "main");
        t.setDaemon(true);
        return t;
    });

    public Activity(File root) {
        super(root);
    }

    public void runOnUiThread(Runnable action) {
        ui.execute(action);
    }
}
