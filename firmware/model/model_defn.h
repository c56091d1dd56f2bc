// GENERATED FILE, do not edit. Made by: daisynet export firmware/model/model.keras -o firmware/model/model_defn.h --golden-input firmware/model/golden_input.wav
// daisynet model "daisynet_wavenet": 465 parameters, 424 MACs/sample, receptive field
// 256 samples (5.3 ms at 48000 Hz), weights float32.
#pragma once

#include <cstddef>
#include <cstdint>

namespace daisynet::model {

inline constexpr char kModelName[] = "daisynet_wavenet";
// SHA-256 of every layer's weights then bias, float32 little-endian, in layer order.
inline constexpr char kWeightsSha256[] = "7543a9b48086fe12a192bd78b571f152d36625f5c6e27dbadad856ec7c60797e";
inline constexpr std::uint32_t kWeightsHash32 = 0x7543a9b4u;  // first 8 hex digits above
inline constexpr float kSampleRate = 48000.0f;  // Hz the model was trained at

// Process() takes the input channels in this order, each a float per frame: audio in -1..1,
// knobs/CV 0..1 as the datalogger records them.
inline constexpr std::size_t kNumInputs = 3;
inline constexpr const char* kInputNames[kNumInputs] = {"knob_1", "knob_2", "audio_in_1"};
inline constexpr std::size_t kNumOutputs = 1;
inline constexpr const char* kOutputNames[kNumOutputs] = {"audio_in_2"};

// Architecture: block i = causal Conv1D(kBlockFilters[i], kKernelSize, dilation
// kKernelSize**i, relu) then Conv1D(kBlockFilters[i], 1, relu); a linear 1x1 head follows.
inline constexpr std::size_t kKernelSize = 4;
inline constexpr std::size_t kNumBlocks = 4;
inline constexpr std::size_t kBlockFilters[kNumBlocks] = {4, 4, 4, 8};
inline constexpr std::size_t kReceptiveField = 256;  // samples
inline constexpr std::size_t kParameters = 465;
inline constexpr std::size_t kMacsPerSample = 424;

// Layer l: out[t] = act(bias + sum_k in[t - (kernel - 1 - k) * dilation] * W[k]) where W[k]
// is an (in_channels x out_channels) row-major matrix; weights are laid out [k][in][out].
struct LayerDefn {
  std::size_t kernel;
  std::size_t dilation;
  std::size_t in_channels;
  std::size_t out_channels;
  bool relu;
  const float* weights;  // kernel * in_channels * out_channels floats
  const float* bias;     // out_channels floats
};

// layer 0: block0_dilated, kernel 4, dilation 1, 3 -> 4, relu
alignas(16) inline constexpr float kLayer0Weights[48] = {
    0.221874416f, -0.136927545f, 0.327316314f, -0.548136055f, 0.00997062586f, -0.401997477f,
    0.0304082483f, 0.295959532f, 0.0434238538f, 0.033155188f, 0.123871155f, -0.0623384863f,
    0.214687362f, 0.015367941f, -0.314100444f, -0.0562515035f, 0.0954895467f, 0.315631092f,
    -0.24245657f, -0.49607712f, 0.386250854f, 0.00582957687f, 0.232605159f, 0.36892426f,
    0.283251435f, 0.479906172f, -0.221847385f, -0.328815728f, 0.0806735083f, 0.115872063f,
    0.401292384f, -0.200662583f, -0.050110817f, -0.407776535f, -0.154614374f, 0.442721516f,
    0.599242508f, 0.412466466f, 0.246959686f, 0.117776923f, 0.358506173f, -0.512811363f,
    0.263566703f, 0.110886186f, 0.33942315f, -0.598026752f, 0.842484415f, 0.667359054f,
};
alignas(16) inline constexpr float kLayer0Bias[4] = {
    0.080389373f, 0.0899226665f, -0.205317423f, 0.652850509f,
};
static_assert(sizeof(kLayer0Weights) / sizeof(float) == 4 * 3 * 4, "layer 0");

// layer 1: block0_mix, kernel 1, dilation 1, 4 -> 4, relu
alignas(16) inline constexpr float kLayer1Weights[16] = {
    -0.863592923f, -0.525636792f, -0.300719917f, 0.210296616f, 0.296875268f, -0.275477052f,
    -0.382562935f, -0.358529031f, 0.418097287f, -0.308319211f, 0.824525177f, -0.931616783f,
    0.330942631f, -0.674044132f, -0.350195587f, 1.00439131f,
};
alignas(16) inline constexpr float kLayer1Bias[4] = {
    0.0793029517f, 0.0f, 0.0174320806f, 0.087806806f,
};
static_assert(sizeof(kLayer1Weights) / sizeof(float) == 1 * 4 * 4, "layer 1");

// layer 2: block1_dilated, kernel 4, dilation 4, 4 -> 4, relu
alignas(16) inline constexpr float kLayer2Weights[64] = {
    0.229971185f, -0.393172383f, 0.412406981f, -0.291886479f, 0.134580404f, -0.15088594f,
    0.27305004f, -0.420878053f, -0.31192553f, -0.0230599884f, 0.381759405f, -0.82703197f,
    0.493013293f, 0.440817714f, 0.151406303f, -0.154641733f, 0.433426291f, 0.0727628469f,
    0.141000047f, -0.754142582f, 0.111245126f, -0.195327431f, -0.00254511833f, 0.273916334f,
    -0.123236701f, 0.159835592f, 0.734669566f, -0.327422053f, 0.209968716f, 0.133427292f,
    -0.0305461716f, 0.408026993f, 0.522176206f, -0.920606136f, 0.419223338f, -1.28066456f,
    0.182359248f, 0.214687675f, -0.0370049179f, 0.141260296f, -0.621915698f, -0.600699842f,
    0.553182781f, 0.372981638f, -0.316615343f, 0.0767524317f, -0.0311418828f, 0.406481832f,
    -0.11059095f, -1.20564759f, 0.22017324f, -1.75628412f, 0.200690657f, 0.0483242869f,
    0.156269163f, 0.109300822f, -0.102252439f, 0.178828746f, 0.837921202f, -0.4063676f,
    0.037486732f, -0.744934022f, 0.541622162f, 0.352524847f,
};
alignas(16) inline constexpr float kLayer2Bias[4] = {
    0.110645235f, 0.100684211f, 0.0106517319f, -0.190971076f,
};
static_assert(sizeof(kLayer2Weights) / sizeof(float) == 4 * 4 * 4, "layer 2");

// layer 3: block1_mix, kernel 1, dilation 1, 4 -> 4, relu
alignas(16) inline constexpr float kLayer3Weights[16] = {
    -0.349302649f, 0.346610099f, -0.209036469f, -0.454168797f, 0.0621182136f, -1.08387291f,
    0.738111258f, 1.17887521f, 0.708000124f, -0.353404313f, -0.913621545f, -0.206324026f,
    -0.350849092f, -0.14841558f, 0.688105583f, 0.819914579f,
};
alignas(16) inline constexpr float kLayer3Bias[4] = {
    0.0249113925f, 0.160558417f, 0.16207394f, -0.195668623f,
};
static_assert(sizeof(kLayer3Weights) / sizeof(float) == 1 * 4 * 4, "layer 3");

// layer 4: block2_dilated, kernel 4, dilation 16, 4 -> 4, relu
alignas(16) inline constexpr float kLayer4Weights[64] = {
    -0.00528061856f, -0.117492266f, -0.030002147f, 0.0669175386f, 0.0640350953f, 0.230213478f,
    0.153441399f, -0.168687776f, 0.107989945f, -0.389112443f, 0.188734606f, 0.415342838f,
    -0.323321015f, -0.49006322f, 0.100325294f, 0.555268645f, 0.125606954f, 0.126038849f,
    -0.21327433f, 0.0510059409f, 0.124085724f, 0.437509328f, 0.26767689f, -0.101786919f,
    0.479537487f, 0.016891364f, 0.285728395f, 0.307592243f, -0.204494923f, -0.971939206f,
    0.329209477f, 0.466431111f, 0.166038662f, 0.219895437f, -0.249164596f, 0.0557088964f,
    -0.034850277f, 0.523733497f, 0.501510084f, -0.2562989f, -0.262953043f, -0.476621211f,
    0.087324582f, 0.702236712f, 0.380758137f, -2.22551084f, -0.875484407f, 0.575164914f,
    0.337997109f, 0.156025425f, -0.686646104f, -0.0727642477f, -0.127321944f, -0.354125917f,
    -0.26200068f, 0.257331133f, 1.03941691f, -0.228016198f, -0.731036663f, 0.0436227359f,
    2.97646928f, -3.02453256f, -2.35568547f, -2.48888969f,
};
alignas(16) inline constexpr float kLayer4Bias[4] = {
    0.0122522991f, 0.12280491f, 0.0459547192f, 0.0990223289f,
};
static_assert(sizeof(kLayer4Weights) / sizeof(float) == 4 * 4 * 4, "layer 4");

// layer 5: block2_mix, kernel 1, dilation 1, 4 -> 4, relu
alignas(16) inline constexpr float kLayer5Weights[16] = {
    -0.572164297f, -0.458831996f, 0.775127292f, 0.670009613f, 0.824690878f, 0.5772205f,
    -0.579022229f, -0.441951245f, 0.711882055f, -0.675184727f, 0.540806472f, -0.978704929f,
    0.750845432f, 0.193587318f, 0.68178314f, -0.315270215f,
};
alignas(16) inline constexpr float kLayer5Bias[4] = {
    -0.0113144591f, -0.0487121455f, -0.19670476f, 0.0965850055f,
};
static_assert(sizeof(kLayer5Weights) / sizeof(float) == 1 * 4 * 4, "layer 5");

// layer 6: block3_dilated, kernel 4, dilation 64, 4 -> 8, relu
alignas(16) inline constexpr float kLayer6Weights[128] = {
    0.0621419512f, -0.0630019978f, 0.08018554f, 0.0249799211f, 0.424070477f, -0.337495536f,
    -0.135945052f, 0.026534168f, -0.495038569f, -0.455704838f, 0.253884912f, 0.0260997992f,
    1.12191844f, -0.342835277f, -0.445471346f, 0.0622852184f, -0.0302015319f, -0.0493502207f,
    0.045839753f, -0.235547081f, -0.701066911f, -1.9512465f, 0.500894666f, 0.121263683f,
    0.057984788f, -0.137202337f, 0.0807671547f, 0.109213896f, 0.216915816f, -0.331345052f,
    -0.169448346f, 0.127477914f, -0.0227799602f, 0.149771392f, 0.132562622f, 0.109591149f,
    -0.441429555f, -0.249694571f, 0.0440048724f, -0.203589946f, -0.795419157f, -0.270846695f,
    -0.0853968784f, -0.123260424f, 0.323502272f, -1.69580472f, 0.453826189f, 0.416935474f,
    -0.0646807924f, -0.093758136f, -0.0455264151f, 0.365411252f, -0.397597194f, -1.28624678f,
    0.270751089f, 0.2100036f, -0.0284526423f, 0.131906793f, 0.0664605647f, 0.176828638f,
    0.0074881278f, -0.125163764f, -0.0411266088f, -0.143669575f, 0.114118099f, -0.141824514f,
    0.340144664f, 0.124772079f, -0.0640860498f, 0.136411846f, -0.260125935f, -0.0336564146f,
    0.333091408f, -0.385656625f, -0.0120240459f, 0.0903531313f, 0.137518257f, -1.22268283f,
    -0.842416048f, 0.00175237586f, -0.553430438f, -0.0873147547f, -0.115986615f, 0.470626146f,
    -0.0945546627f, -0.805276036f, 0.310052663f, 0.412143439f, 0.131334588f, 0.0676341429f,
    0.177394196f, -0.143718347f, 0.438797772f, 0.178540081f, -0.227254197f, -0.00225291471f,
    -0.173016503f, 0.319858581f, 0.23395583f, 0.584307492f, -0.082370609f, 0.347089648f,
    0.869159698f, 0.680683672f, -0.0684984326f, -0.581484616f, -0.404426485f, -0.634604931f,
    -0.440914989f, -0.966429293f, -0.558864653f, -0.302992821f, -0.0635812134f, 0.0315936208f,
    -0.521382332f, -0.309953928f, 0.986205459f, 0.950910449f, 0.0889394954f, -0.0264170878f,
    -1.49546373f, -0.939925671f, -1.72025001f, -0.879181325f, -0.256227881f, -1.71409559f,
    0.00428449921f, -1.00491142f,
};
alignas(16) inline constexpr float kLayer6Bias[8] = {
    0.447810531f, 0.174971774f, 0.00352374651f, -0.0508774407f, -0.145511225f, 0.031413421f,
    -0.0635002479f, 0.000255046791f,
};
static_assert(sizeof(kLayer6Weights) / sizeof(float) == 4 * 4 * 8, "layer 6");

// layer 7: block3_mix, kernel 1, dilation 1, 8 -> 8, relu
alignas(16) inline constexpr float kLayer7Weights[64] = {
    -1.02818036f, 0.271719962f, 0.691188276f, -0.00209624064f, -1.47408497f, 0.289915621f,
    0.227650017f, 0.578018308f, -0.990945935f, 0.244364798f, 0.34919858f, 0.558770239f,
    -1.11747456f, 0.431166589f, 0.531294525f, -0.216046751f, -0.560980499f, 0.0596668944f,
    0.67076546f, 0.0421686284f, -0.232772276f, -0.680464447f, 0.661655247f, -1.80945575f,
    0.203381673f, -0.630928278f, 0.186507314f, -0.23000367f, -0.520611942f, -1.0826062f,
    -0.115681127f, -0.59551549f, 0.711188495f, -1.45075226f, 0.0889018923f, -0.679849088f,
    0.728971422f, -0.63528645f, -0.238080263f, -0.67239058f, -1.11055756f, 0.576302946f,
    -1.48885548f, -1.55408728f, -0.488187581f, 1.77286971f, -1.18675685f, 1.72457707f,
    0.345054418f, -0.516104519f, -0.172628075f, 0.0754485354f, 0.24955222f, -0.803348958f,
    -0.403892577f, -0.511959791f, -0.517188668f, 0.0729308128f, 0.380803376f, 0.034279108f,
    -0.763563514f, -0.872025549f, 0.228649497f, -0.745818257f,
};
alignas(16) inline constexpr float kLayer7Bias[8] = {
    0.193949491f, 0.0948096514f, -0.0441733599f, 0.132393345f, -0.173048571f, 0.190336153f,
    0.051517617f, 0.261741221f,
};
static_assert(sizeof(kLayer7Weights) / sizeof(float) == 1 * 8 * 8, "layer 7");

// layer 8: head, kernel 1, dilation 1, 8 -> 1, linear
alignas(16) inline constexpr float kLayer8Weights[8] = {
    1.26306581f, 0.568771005f, -0.7870965f, -0.365371197f, -1.01419842f, 1.43064117f,
    -0.886922419f, 1.66276729f,
};
alignas(16) inline constexpr float kLayer8Bias[1] = {
    -0.0768011138f,
};
static_assert(sizeof(kLayer8Weights) / sizeof(float) == 1 * 8 * 1, "layer 8");

inline constexpr std::size_t kNumLayers = 9;
inline constexpr LayerDefn kLayers[kNumLayers] = {
    {4, 1, 3, 4, true, kLayer0Weights, kLayer0Bias},
    {1, 1, 4, 4, true, kLayer1Weights, kLayer1Bias},
    {4, 4, 4, 4, true, kLayer2Weights, kLayer2Bias},
    {1, 1, 4, 4, true, kLayer3Weights, kLayer3Bias},
    {4, 16, 4, 4, true, kLayer4Weights, kLayer4Bias},
    {1, 1, 4, 4, true, kLayer5Weights, kLayer5Bias},
    {4, 64, 4, 8, true, kLayer6Weights, kLayer6Bias},
    {1, 1, 8, 8, true, kLayer7Weights, kLayer7Bias},
    {1, 1, 8, 1, false, kLayer8Weights, kLayer8Bias},
};

static_assert(kLayers[0].in_channels == kNumInputs, "first layer reads the model inputs");
static_assert(kLayers[kNumLayers - 1].out_channels == kNumOutputs, "head writes the outputs");
static_assert(kNumLayers == 2 * kNumBlocks + 1, "two layers per block plus the head");

}  // namespace daisynet::model
